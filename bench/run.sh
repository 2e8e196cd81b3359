#!/usr/bin/env bash
# Speed and memory of `mpdoctor check` against baselines measured in the same run, on the
# same machine state: ruff parsing every file with its syntax-error rules only (the
# fastest thing a Python linter does) and `rg -l multiprocessing` (reading every byte
# once: the floor). Two trees: this machine's Python standard library (its Lib without
# site-packages) and a tree 10 times its size made of copies. Prints medians, peak
# memory and the ratios. Not a test: these machines are shared and noisy, so read
# ratios, not seconds. Commands are timed in turns (bench/measure.py), to the millisecond.
#
#   bash bench/run.sh [RUNS]      (default 5)
#   BENCH_TREE=DIR bash bench/run.sh    (one tree of your own instead of the two)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}

cargo build --release --quiet
venv=target/bench-venv
if [ ! -x "$venv/bin/ruff" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet ruff
fi
if ! command -v rg >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends ripgrep >/dev/null
fi

# The trees: copies, so that every tool reads the same files and nothing else.
work=target/bench
if [ -n "${BENCH_TREE:-}" ]; then
    trees=("$BENCH_TREE")
else
    lib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
    if [ ! -d "$work/stdlib" ]; then
        mkdir -p "$work/stdlib"
        (cd "$lib" && find . -name '*.py' -not -path './site-packages/*' -print0 |
            tar --null -T - -cf -) | tar -xf - -C "$work/stdlib"
    fi
    if [ ! -d "$work/stdlib-x10" ]; then
        for i in $(seq 0 9); do
            mkdir -p "$work/stdlib-x10/copy$i"
            cp -r "$work/stdlib/." "$work/stdlib-x10/copy$i/"
        done
    fi
    trees=("$work/stdlib" "$work/stdlib-x10")
fi

ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{a / b:.2f}' if b else 'n/a')" "$1" "$2"; }

declare -A mp_time
for tree in "${trees[@]}"; do
    files=$(find "$tree" -name '*.py' | wc -l)
    bytes=$(du -sh "$tree" | cut -f1)
    echo "tree: $tree ($files .py files, $bytes), $runs runs each"
    target/release/mpdoctor check --exit-zero --statistics "$tree" | tail -n 1
    # In turns, so that a change in the machine's load touches all three alike.
    { read -r mp_t mp_m; read -r e9_t e9_m; read -r rg_t rg_m; } < <(python3 bench/measure.py "$runs" \
        ::: target/release/mpdoctor check --exit-zero --output-format concise "$tree" \
        ::: "$venv/bin/ruff" check --no-cache --isolated --exit-zero --select E9 "$tree" \
        ::: rg -l multiprocessing "$tree")
    printf '  %-40s %8s s %9s KiB\n' "mpdoctor check" "$mp_t" "$mp_m"
    printf '  %-40s %8s s %9s KiB\n' "ruff check --select E9" "$e9_t" "$e9_m"
    printf '  %-40s %8s s %9s KiB\n' "rg -l multiprocessing" "$rg_t" "$rg_m"
    echo "  time mpdoctor / ruff E9:   $(ratio "$mp_t" "$e9_t")   (target <= 0.5)"
    echo "  time mpdoctor / rg:        $(ratio "$mp_t" "$rg_t")   (target <= 3)"
    echo "  peak memory mpdoctor:      $(( mp_m / 1024 )) MiB   (target <= 150 on the larger tree)"
    mp_time[$tree]=$mp_t
done
if [ ${#trees[@]} -eq 2 ]; then
    echo "time 10x tree / 1x tree:     $(ratio "${mp_time[${trees[1]}]}" "${mp_time[${trees[0]}]}")   (target <= 11)"
fi

# `mpdoctor run` around a process-heavy suite: CPython's own test of main-module handling
# under every start method (about 230 processes). Target: at most 5% added wall time, and
# the same result.
if [ "${BENCH_RUN:-1}" != 0 ] && python3 -c 'import test.test_multiprocessing_main_handling' 2>/dev/null; then
    suite=(python3 -m test test_multiprocessing_main_handling)
    echo "suite: ${suite[*]}, $runs runs each"
    { read -r plain_t _; read -r run_t _; } < <(python3 bench/measure.py "$runs" \
        ::: "${suite[@]}" ::: target/release/mpdoctor run -- "${suite[@]}")
    printf '  %-40s %8s s\n' "plain" "$plain_t" "under mpdoctor run" "$run_t"
    echo "  added wall time:           $(python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{(b / a - 1) * 100:+.1f}%')" "$plain_t" "$run_t")   (target <= +5%)"
    if target/release/mpdoctor run -- "${suite[@]}" >/dev/null 2>&1; then
        echo "  under mpdoctor run the suite still passes"
    else
        echo "  under mpdoctor run the suite FAILED"
    fi
fi
