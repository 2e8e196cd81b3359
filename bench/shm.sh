#!/usr/bin/env bash
# `mpdoctor shm` against `lsof +D DIR` and `fuser` on the same state, in one run: a
# directory on tmpfs with ENTRIES entries and HOLDERS live processes that hold some of
# them (by descriptor, and some by mapping). Prints each tool's time, the ratios, and
# whether all three found the same (file, pid) holders. A benchmark, not a test.
#
#   bash bench/shm.sh [ENTRIES] [HOLDERS]        (default: 10000 300)
set -euo pipefail
cd "$(dirname "$0")/.."
entries=${1:-10000}
holders=${2:-300}
if [ "$entries" -lt 500 ] || [ "$holders" -lt 20 ]; then
    echo "needs at least 500 entries (the mapping holders use entries up to 464) and 20 holders" >&2
    exit 2
fi
command -v lsof >/dev/null && command -v fuser >/dev/null || {
    echo "needs lsof and fuser (Debian: apt-get install lsof psmisc)" >&2
    exit 2
}
cargo build --release --quiet
bin=$PWD/target/release/mpdoctor
dir=$(mktemp -d /dev/shm/mpdoctor-bench.XXXXXX)
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir" "$work"
}
trap cleanup EXIT

python3 - "$dir" "$entries" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "psm_%08x" % i), "wb") as f:
        f.write(b"\0" * 64)
PY
# Descriptor holders: `sleep` processes with one entry open each.
for i in $(seq 0 $((holders - 11))); do
    f=$(printf '%s/psm_%08x' "$dir" $((i * 7)))
    sleep 600 3<"$f" &
    pids+=($!)
done
# Mapping holders: ten Python processes that map five entries each and close the files.
for i in $(seq 0 9); do
    python3 -c '
import mmap, sys, time
maps = []
for name in sys.argv[1:]:
    with open(name, "r+b") as f:
        maps.append(mmap.mmap(f.fileno(), 64))
time.sleep(600)' $(for j in 0 1 2 3 4; do printf '%s/psm_%08x ' "$dir" $((i * 50 + j * 3 + 1)); done) &
    pids+=($!)
done
sleep 2

# Median of 3 runs, in seconds.
timed() {
    local t=()
    for _ in 1 2 3; do
        local s=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        t+=("$(python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.3f}')" "$(date +%s.%N)" "$s")")
    done
    printf '%s\n' "${t[@]}" | sort -n | sed -n 2p
}
mp_t=$(timed "$bin" shm --json --min-age 0 --dir "$dir")
lsof_t=$(timed lsof +D "$dir")
fuser_t=$(timed fuser "$dir"/*)

# The holders each tool found, as "file pid" lines.
"$bin" shm --json --min-age 0 --dir "$dir" | python3 -c '
import json, sys
for i in json.load(sys.stdin)["report"]["items"]:
    for h in i["holders"]:
        print(i["name"], h["pid"])' | sort -u >"$work/mpdoctor" || true
lsof -F pn +D "$dir" 2>/dev/null | awk '/^p/{pid=substr($0,2)} /^n/{n=substr($0,2); sub(".*/","",n); print n, pid}' | sort -u >"$work/lsof" || true
# fuser writes each name (stderr) just before its pids (stdout): merged, they pair up.
fuser "$dir"/* 2>&1 | grep -v '^Cannot stat' | python3 -c '
import sys
name = None
for token in sys.stdin.read().split():
    if token.endswith(":"):
        name = token[:-1].rsplit("/", 1)[-1]
    elif name:
        print(name, token.rstrip("abcdefmrce"))' | sort -u >"$work/fuser" || true
echo "state: $entries entries, $holders holder processes, in $dir"
printf '%-24s %8s s\n' "mpdoctor shm" "$mp_t" "lsof +D DIR" "$lsof_t" "fuser DIR/*" "$fuser_t"
ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{b / a:.1f}x' if a else 'n/a')" "$1" "$2"; }
echo "mpdoctor is $(ratio "$mp_t" "$lsof_t") as fast as lsof, $(ratio "$mp_t" "$fuser_t") as fast as fuser"
echo "holders (file, pid): mpdoctor $(wc -l <"$work/mpdoctor"), lsof $(wc -l <"$work/lsof"), fuser $(wc -l <"$work/fuser")"
for tool in lsof fuser; do
    if diff -q "$work/mpdoctor" "$work/$tool" >/dev/null; then
        echo "mpdoctor and $tool found the same holders"
    else
        echo "holders differ between mpdoctor and $tool (< mpdoctor only, > $tool only):"
        diff "$work/mpdoctor" "$work/$tool" | head -10
    fi
done
