"""Times commands in turns, on the same machine state: one untimed warm-up each, then
RUNS rounds that run every command once. Prints, per command and in the order given, the
median wall time in seconds (millisecond resolution: `rg` takes about 15 ms on the
standard library, below what `/usr/bin/time` resolves) and its largest peak RSS in KiB.

    python3 bench/measure.py RUNS ::: CMD ARGS... [::: CMD ARGS...]

`:::` separates the commands, so that a command may hold `--` itself.
"""

import os
import statistics
import subprocess
import sys
import time


def run(cmd):
    """Wall time in seconds and peak RSS in KiB of one run; output is discarded."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(child.pid, 0)
    child.returncode = 0  # reaped above; keeps Popen from waiting again
    return time.perf_counter() - start, usage.ru_maxrss


def main(argv):
    runs = int(argv[0])
    commands, current = [], None
    for arg in argv[1:]:
        if arg == ":::":
            current = []
            commands.append(current)
        elif current is not None:
            current.append(arg)
    if runs < 1 or not commands or not all(commands):
        sys.exit(__doc__)
    times = [[] for _ in commands]
    peaks = [0 for _ in commands]
    for cmd in commands:
        run(cmd)
    for _ in range(runs):
        for i, cmd in enumerate(commands):
            seconds, peak = run(cmd)
            times[i].append(seconds)
            peaks[i] = max(peaks[i], peak)
    for t, peak in zip(times, peaks):
        print(f"{statistics.median(t):.3f} {peak}")


if __name__ == "__main__":
    main(sys.argv[1:])
