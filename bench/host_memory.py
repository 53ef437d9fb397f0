#!/usr/bin/python3
"""This machine's memory made to behave as a bare-metal host's, for real migrations.

This project's machines are themselves virtual machines whose memory the outer hypervisor backs
on first use, and the kernel hands freed memory back to it at once (free page reporting,
virtio_balloon): every page a QEMU touches for the first time then costs a fault in the outer
host, about 0.4-0.5 GiB/s here against 9-16 GiB/s for memory used before (measured by touching
4-18 GiB twice in a row). A migration touches all of the destination's guest RAM, and the first
pass reads what the source guest never touched: seen here as the destination's incoming thread
in clear_page (perf), the stream stalling 200-400 ms after each zero stretch, and real migrations
10-40% slower than on a bare-metal host, where that memory is zeroed at memory speed. The model
assumes the latter, which is what the tool's users run.

  host_memory.py warm      stop free page reporting (the previous settings kept in
                           /run/vmp-host-memory.json) and touch the free memory once
  host_memory.py restore   put the settings back as they were

bench.py, autoconverge.py and postcopy.py use warmed() around their migrations, and .ci/run
around the whole run; nested uses leave it to the outermost. A machine without free page
reporting is left as it is (its memory is touched once, which does no harm). After a SIGKILL,
run `host_memory.py restore`.
"""
import contextlib
import json
import mmap
import os
import sys
import time

PARAMS = "/sys/module/page_reporting/parameters"
# Reporting works on blocks of 2^order pages; no block is larger than order 10, so order 11
# reports nothing. min_free_ms: how long a block stays free before it is reported.
SETTINGS = {"page_reporting_order": "11", "min_free_ms": "60000"}
STATE = "/run/vmp-host-memory.json"
RESERVE = 3 << 30
MOST = 16 << 30


def log(*args):
    print("host_memory:", *args, file=sys.stderr, flush=True)


def available_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def touch(nbytes):
    """Writes one byte in every page of a fresh mapping of nbytes, then unmaps it."""
    t0 = time.monotonic()
    m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    step = 1 << 30
    for start in range(0, nbytes, step):
        n = min(step, nbytes - start) // mmap.PAGESIZE
        m[start:start + n * mmap.PAGESIZE:mmap.PAGESIZE] = b"\1" * n
    m.close()
    seconds = time.monotonic() - t0
    log(f"touched {nbytes >> 20} MiB in {seconds:.1f} s ({(nbytes >> 20) / max(seconds, 1e-3):.0f} MiB/s)")


def warm():
    """Returns True when this call changed the settings (and so should restore them)."""
    if os.path.exists(STATE):
        return False  # an outer run did it
    saved = {}
    if os.path.isdir(PARAMS):
        for name in SETTINGS:
            path = os.path.join(PARAMS, name)
            if os.path.exists(path):
                with open(path) as f:
                    saved[name] = f.read().strip()
    with open(STATE, "w") as f:
        json.dump(saved, f)
    for name in saved:
        with open(os.path.join(PARAMS, name), "w") as f:
            f.write(SETTINGS[name])
    if saved:
        log(f"free page reporting stopped (was {saved})")
    # In a child: a process's peak RSS passes to what it starts (Linux counts a program's
    # ru_maxrss from the peak of the process that exec'd it), so touching 16 GiB here made
    # many_domains.py report the tool's RSS as 16397 MiB (2026-12-07).
    pid = os.fork()
    if pid == 0:
        try:
            touch(max(0, min(MOST, available_bytes() - RESERVE)))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return True


def restore():
    if not os.path.exists(STATE):
        return
    with open(STATE) as f:
        saved = json.load(f)
    for name, value in saved.items():
        with open(os.path.join(PARAMS, name), "w") as f:
            f.write(value)
    os.unlink(STATE)
    if saved:
        log(f"free page reporting restored ({saved})")


@contextlib.contextmanager
def warmed():
    mine = warm()
    try:
        yield
    finally:
        if mine:
            restore()


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("warm", "restore"):
        sys.exit("usage: host_memory.py warm|restore")
    warm() if sys.argv[1] == "warm" else restore()
