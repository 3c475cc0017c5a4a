#!/bin/sh
# Writes every SVG of gallery.txt with the convcalc given (default: the release build), from
# the package root: sh examples/gallery/make.sh [CONVCALC]. DrawingTests checks they are current.
set -eu
cd "$(dirname "$0")/../.."
convcalc=${1:-.build/release/convcalc}
grep -v '^#' examples/gallery/gallery.txt | grep . | while read -r file command; do
    eval "set -- ${command#convcalc }"
    "$convcalc" "$@" --no-warnings -o "examples/gallery/$file"
done
