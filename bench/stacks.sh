#!/usr/bin/env bash
# Time bounds of the robustness suite, measured rather than asserted: how long shape, rf and
# params take on 100,000-layer stacks and on the deepest nesting convcalc accepts, with the
# release binary. `rf` must take about as long as `shape` (it was quadratic: 43 s at 10,000).
#
#     bash bench/stacks.sh            # prints a table (seconds, best of 3)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
C=$PWD/.build/release/convcalc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq 100000); do echo conv:k=3,p=1; done > "$work/long.net"
depth=100   # StackSyntax.maximumDepth: the deepest nesting accepted
(for i in $(seq "$depth"); do echo 'add {'; done; echo conv:k=3,p=1; for i in $(seq "$depth"); do echo '} { conv:k=1 }'; done) > "$work/deep.net"
source bench/timing.sh
printf '| stack | shape | rf | rf --map | params |\n| --- | --- | --- | --- | --- |\n'
for net in long deep; do
    printf '| %s | %s | %s | %s | %s |\n' "$net" \
        "$(best 3 $C shape --in 224 -f "$work/$net.net")" \
        "$(best 3 $C rf --in 224 -f "$work/$net.net")" \
        "$(best 3 $C rf --map --in 64 -f "$work/$net.net")" \
        "$(best 3 $C params --cin 3 --in 224 -f "$work/$net.net")"
done
