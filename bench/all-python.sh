#!/usr/bin/env bash
# Every Python file installed on this machine (each interpreter's standard library with its
# site-packages) through `mpdoctor check` in one run: no panic, exit code 0 or 1, and peak
# memory within the bound (150 MB). Not a test: it depends on what is installed here.
#
#   bash bench/all-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
roots=()
for lib in /usr/lib/python3* /usr/local/lib/python3* "$HOME"/.pyenv/versions/*/lib/python*; do
    [ -d "$lib" ] && roots+=("$lib")
done
files=$(find "${roots[@]}" -name '*.py' 2>/dev/null | wc -l)
echo "${#roots[@]} library folders, $files .py files"
stats=$(mktemp)
err=$(mktemp)
set +e
/usr/bin/time -o "$stats" -f '%e %M' target/release/mpdoctor check --statistics "${roots[@]}" >/dev/null 2>"$err"
code=$?
set -e
read -r seconds peak < <(tail -n 1 "$stats")
echo "exit code $code, $seconds s, peak memory $(( peak / 1024 )) MiB"
if grep -q panicked "$err"; then
    echo "FAIL: a panic"; grep -m 5 panicked "$err"; exit 1
fi
if [ "$code" -gt 1 ]; then
    echo "FAIL: exit code $code"; tail -n 5 "$err"; exit 1
fi
if [ "$peak" -gt $(( 150 * 1024 )) ]; then
    echo "FAIL: peak memory above 150 MiB"; exit 1
fi
echo "ok"
