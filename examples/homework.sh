#!/bin/sh
# Check a homework answer: the sizes through a LeNet-5-like network on 32x32 inputs,
# one layer at a time, using convcalc's -q output in a shell script.
# Run from the repository root: sh examples/homework.sh   (CONVCALC=path to use another binary)
set -eu
cc=${CONVCALC:-convcalc}

size=32
for layer in conv:k=5 maxpool:k=2 conv:k=5 maxpool:k=2; do
    next=$($cc shape -q --in "$size" "$layer")
    echo "$layer: $size -> $next"
    size=$next
done

# The whole stack in one call, and the padding a 5x5 convolution needs to keep 32.
echo "whole stack: $($cc shape -q --in 32 conv:k=5 maxpool:k=2 conv:k=5 maxpool:k=2)"
echo "padding that keeps 32 with k=5: $($cc shape -q --in 32 --k 5 --out 32)"

# The expected answers (LeCun et al. 1998: C1 28, S2 14, C3 10, S4 5).
test "$size" = 5 && echo "answer 5x5 is right"
