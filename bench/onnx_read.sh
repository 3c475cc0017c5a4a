#!/usr/bin/env bash
# Reading a full-size ONNX model (issue #18): VGG-16 with its weights (about 528 MB), counted by
# `convcalc params` with the release binary, against `onnx.load` (the Python package, which
# reads every weight) and `onnx.load(..., load_external_data=False)` on a protobuf parse.
# Wall time best of 5 warm, and once with the page cache dropped when run as root.
#
#     bash bench/onnx_read.sh [MODEL]     # default /tmp/onnx/vgg16_full.onnx, made if missing:
#     python3 Tests/fixtures/generate_onnx_cases.py --vgg16-full /tmp/onnx/vgg16_full.onnx
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-/tmp/onnx/vgg16_full.onnx}
if [ ! -f "$model" ]; then
    python3 Tests/fixtures/generate_onnx_cases.py --vgg16-full "$model"
fi
swift build -c release >/dev/null
C=$PWD/.build/release/convcalc
source bench/timing.sh
cold() {   # one run after dropping the page cache (root only), else "-"
    if [ "$(id -u)" = 0 ] && sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
        "$C" shape -q --k 3 --in 5 >/dev/null   # the binary and its libraries back in memory
        local start end
        start=$(date +%s.%N); "$@" > /dev/null; end=$(date +%s.%N)
        echo "$start $end" | awk '{ printf "%.3f", $2 - $1 }'
    else
        printf -- '-'
    fi
}
size=$(stat -c %s "$model")
rss=$( { /usr/bin/time -f %M "$C" params -q "$model" >/dev/null; } 2>&1 )
echo "model: $model ($((size / 1048576)) MiB); convcalc params -q gives $("$C" params -q "$model") parameters"
printf '| reader | warm (s) | cold cache (s) |\n| --- | --- | --- |\n'
printf '| convcalc params -q (peak RSS %s MiB) | %s | %s |\n' "$((rss / 1024))" "$(best 5 "$C" params -q "$model")" "$(cold "$C" params -q "$model")"
if python3 -c "import onnx" 2>/dev/null; then
    printf '| python3 onnx.load (reads the weights) | %s | - |\n' "$(best 5 python3 -c "import onnx; onnx.load('$model')")"
    printf '| python3 -c "import onnx" alone | %s | - |\n' "$(best 5 python3 -c "import onnx")"
fi
