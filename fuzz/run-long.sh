#!/usr/bin/env bash
# The long fuzz run: CASES random and mutated argument vectors and matrix files (default
# 100,000) from SEED through the whole CLI, in a release build. `swift test` runs a
# 600-case slice (3,000 with CONVCALC_LONG=1) of the same harness (Tests/ConvCalcCLITests/FuzzTests.swift).
#   fuzz/run-long.sh [CASES] [SEED]
# A failing case prints its index; replay it with
#   CONVCALC_FUZZ_SEED=SEED CONVCALC_FUZZ_CASES=INDEX+1 CONVCALC_FUZZ_VERBOSE=1 swift test --filter "ConvCalcCLITests.FuzzTests"
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-100000}
seed=${2:-20261124}
log=$(mktemp /tmp/convcalc-fuzz.XXXXXX)
start=$(date +%s)
if CONVCALC_FUZZ_CASES=$cases CONVCALC_FUZZ_SEED=$seed \
    swift test -c release -Xswiftc -enable-testing --filter "ConvCalcCLITests.FuzzTests" >"$log" 2>&1; then
    status=passed
else
    status=FAILED
fi
grep -E "^fuzz:|error:" "$log" | head -40
echo "fuzz/run-long.sh: $cases cases from seed $seed: $status in $(( $(date +%s) - start )) s (log: $log)"
[ "$status" = passed ]
