#!/bin/sh
# make fuzz: runs each libFuzzer harness for a while, one after another.
#   fuzz/run.sh --deps                  installs clang and libFuzzer if missing
#   fuzz/run.sh DIR SECONDS TARGET...   runs DIR/bin/TARGET for SECONDS each
# New corpus entries go to DIR/corpus/TARGET (the seeds of fuzz/corpus are
# read, not written), findings to DIR/crashes, the output to DIR/TARGET.log.
# Prints a line of figures per target; exits 1 if any target found a bug.
set -eu

if [ "${1:-}" = --deps ]; then
    if command -v clang >/dev/null 2>&1 \
        && ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a \
            >/dev/null 2>&1
    then
        exit 0
    fi
    sudo=
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "fuzz/run.sh: installing clang libclang-rt-14-dev"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends clang libclang-rt-14-dev >/dev/null
    exit 0
fi

dir=$1 secs=$2
shift 2
mkdir -p "$dir/crashes"
found=0

printf '%-8s %12s %8s %6s %7s %7s %s\n' target execs exec/s cov ft corpus \
    findings
for t in "$@"; do
    mkdir -p "$dir/corpus/$t"
    dict=
    [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
    before=$(ls "$dir/crashes" | grep -c "^$t-" || true)
    # shellcheck disable=SC2086
    "$dir/bin/$t" -max_total_time="$secs" -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$dir/crashes/$t-" \
        $dict "$dir/corpus/$t" "fuzz/corpus/$t" >"$dir/$t.log" 2>&1 \
        || true
    after=$(ls "$dir/crashes" | grep -c "^$t-" || true)
    last=$(grep -a -E '^#[0-9]+' "$dir/$t.log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$t.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/$t.log")
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
    printf '%-8s %12s %8s %6s %7s %7s %s\n' "$t" "${execs:-?}" \
        "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corp" $((after - before))
    if [ "$after" -ne "$before" ]; then
        found=1
        echo "  $t: see $dir/$t.log and $dir/crashes/$t-*" >&2
    fi
done

exit $found
