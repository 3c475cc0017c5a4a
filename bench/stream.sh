#!/bin/bash
# Streaming `convcalc run` (issue #21): a ROWS x COLUMNS matrix of %.17g text through a pipe,
# its peak memory (VmHWM, as /usr/bin/time -v reports it) and time, and its output compared
# byte for byte with the run that reads the whole file first (--stream never).
#
#   bench/stream.sh [ROWS] [COLUMNS]      (default 20000 4096: 1.7 GB of text)
#
# Needs python3 with NumPy (to write the input) and GNU time. Files go to $TMPDIR.
set -euo pipefail
rows=${1:-20000}
columns=${2:-4096}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
bin=$(swift build -c release --show-bin-path)/convcalc
python3 - "$dir" "$rows" "$columns" <<'PY'
import sys, numpy as np
d, rows, columns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(5)
with open(d + "/input.txt", "w") as f:
    for start in range(0, rows, 500):
        np.savetxt(f, rng.uniform(-1, 1, (min(500, rows - start), columns)), fmt="%.17g")
np.savetxt(d + "/k3.txt", rng.uniform(-1, 1, (3, 3)), fmt="%.17g")
np.savetxt(d + "/k31.txt", rng.uniform(-1, 1, (31, 31)), fmt="%.17g")
PY
echo "input: $(stat -c %s "$dir/input.txt") bytes, $rows x $columns"
for case in "k3.txt" "--method direct --p 15 --pad-mode reflect k31.txt" "--method fft --p 15 k31.txt" "--method fft --p 15 --pad-mode reflect k31.txt"; do
    kernel=${case##* }
    options=${case% *}
    [ "$options" = "$case" ] && options=""
    /usr/bin/time -v -o "$dir/time.txt" sh -c "cat '$dir/input.txt' | '$bin' run $options - '$dir/$kernel' > '$dir/streamed.txt'"
    peak=$(grep 'Maximum resident' "$dir/time.txt" | grep -o '[0-9]*$')
    elapsed=$(grep 'Elapsed' "$dir/time.txt" | grep -o '[0-9:.]*$')
    "$bin" run $options --stream never "$dir/input.txt" "$dir/$kernel" > "$dir/whole.txt"
    same=$(cmp -s "$dir/streamed.txt" "$dir/whole.txt" && echo "same bytes" || echo "DIFFERENT")
    echo "run $options - $kernel: streamed peak $((peak / 1024)) MiB, $elapsed; $same as --stream never ($(stat -c %s "$dir/whole.txt") bytes)"
done
