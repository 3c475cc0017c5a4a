# Sourced by the bench scripts. best N COMMAND...: the best wall time of N runs, in seconds.
best() {
    local runs=$1 best="" start end
    shift
    for _ in $(seq "$runs"); do
        start=$(date +%s.%N)
        "$@" > /dev/null
        end=$(date +%s.%N)
        best=$(echo "$start $end ${best:-1e9}" | awk '{ t = $2 - $1; print (t < $3 ? t : $3) }')
    done
    printf '%.3f' "$best"
}
