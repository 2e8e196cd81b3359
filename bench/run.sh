#!/usr/bin/env bash
# Speed and memory of `mpdoctor check` against a baseline measured in the same run:
# ruff (parsing every file with its syntax-error rules only, and with all its rules) on the
# same tree. Prints the medians and the ratios. Not a test: these machines are shared and
# noisy, so read ratios, not seconds.
#
#   bash bench/run.sh [TREE] [RUNS]      (default: this machine's Python standard library, 5)
set -euo pipefail
cd "$(dirname "$0")/.."
tree=${1:-$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')}
runs=${2:-5}

cargo build --release --quiet
venv=target/bench-venv
if [ ! -x "$venv/bin/ruff" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet ruff
fi

# Median wall time (s) and the largest peak RSS (KiB) of a command over $runs runs.
measure() {
    local times=() peak=0 out stats
    stats=$(mktemp)
    for _ in $(seq "$runs"); do
        /usr/bin/time -o "$stats" -f '%e %M' "$@" >/dev/null 2>&1
        out=$(tail -n 1 "$stats")
        times+=("${out% *}")
        (( ${out#* } > peak )) && peak=${out#* }
    done
    rm -f "$stats"
    printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")" "$peak"
}

files=$(find "$tree" -name '*.py' | wc -l)
echo "tree: $tree ($files .py files), $runs runs each"
read -r mp_t mp_m < <(measure target/release/mpdoctor check --exit-zero --output-format concise "$tree")
read -r e9_t e9_m < <(measure "$venv/bin/ruff" check --no-cache --exit-zero --select E9 "$tree")
read -r all_t all_m < <(measure "$venv/bin/ruff" check --no-cache --exit-zero --select ALL "$tree")
printf '%-34s %8s s %9s KiB\n' "mpdoctor check" "$mp_t" "$mp_m"
printf '%-34s %8s s %9s KiB\n' "ruff check --select E9 (baseline)" "$e9_t" "$e9_m"
printf '%-34s %8s s %9s KiB\n' "ruff check --select ALL" "$all_t" "$all_m"
ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{a / b:.2f}' if b else 'n/a')" "$1" "$2"; }
echo "time ratio mpdoctor / ruff E9:   $(ratio "$mp_t" "$e9_t")"
echo "time ratio mpdoctor / ruff ALL:  $(ratio "$mp_t" "$all_t")"
echo "memory ratio mpdoctor / ruff E9: $(ratio "$mp_m" "$e9_m")"
