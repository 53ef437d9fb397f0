#!/usr/bin/python3
"""libvirt's steps when several migrations start together, from stored drain runs; a study.

libvirt's steps before QEMU sends (the destination QEMU's start and the handshakes: each
migration's libvirt job time less QEMU's total-time) grow when several migrations start at once
on the 2-core machines the benchmark ran on. The drain model takes them as one figure per domain,
however many start together. This reads stored `bench/drain.py` rows and prints, per file:

1. the migrations' own steps by how many started together (their real launches within 300 ms of
   one another), beside those that started alone while another migration ran;
2. what scaling each migration's steps by 1 + a (n - 1) in the plan (n: how many the plan starts
   with it) would do to the drains' totals, for a from 0 to 0.5: a fitted on the tuning cases,
   scored on the held-out ones. The estimate is first order: the plan's return of each migration
   moves by its added steps, and the total is the latest return; a later start also lends the
   link to the others for that time, which this leaves out (it makes the gain look larger).

Migrates nothing:
  bench/drain_starts.py bench/results/*drain*.jsonl
"""

import argparse
import collections
import json
import statistics

from drain import HELDOUT_NAMES

TOGETHER_MS = 300


def rows_of(path):
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "migrations" in r and r.get("all_completed"):
                yield r


def started_with(migrations, m, side):
    launch = m[side]["launch_ms"]
    return sum(1 for o in migrations if abs(o[side]["launch_ms"] - launch) < TOGETHER_MS)


def steps_by_start(rows):
    by = collections.defaultdict(list)
    for r in rows:
        ms = r["migrations"]
        for m in ms:
            real = m["real"]
            n = started_with(ms, m, "real")
            during = any(o["real"]["launch_ms"] < real["launch_ms"] - TOGETHER_MS
                         and o["real"]["returns_ms"] > real["launch_ms"] for o in ms)
            key = "1 (another running)" if n == 1 and during else str(n)
            by[key].append(real["libvirt_time_elapsed_ms"] - real["qemu_total_time_ms"])
    return by


def scaled_error(r, a):
    ms = r["migrations"]
    ends = []
    for m in ms:
        p = m["predicted"]
        steps = p["total_time_ms"] - p["qemu_total_time_ms"]
        ends.append(p["returns_ms"] + steps * a * (started_with(ms, m, "predicted") - 1))
    return (max(ends) - r["real_total_ms"]) / r["real_total_ms"] * 100


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    every = []
    for path in args.files:
        rows = list(rows_of(path))
        every += rows
        by = steps_by_start(rows)
        alone = by.get("1 (another running)") or by.get("1")
        base = statistics.median(alone) if alone else None
        parts = []
        for k in sorted(by, key=lambda k: (k[0], len(k))):
            med = statistics.median(by[k])
            ratio = f", {med / base:.2f}x" if base else ""
            parts.append(f"{k}: {med:.0f} ms ({len(by[k])}{ratio})")
        print(f"{path}: steps by how many started together: " + "; ".join(parts))
    print()
    for a in (0, 0.1, 0.2, 0.3, 0.4, 0.5):
        line = [f"a = {a:.1f}:"]
        for label, subset in (("tuning", [r for r in every if r["case"] not in HELDOUT_NAMES]),
                              ("held out", [r for r in every if r["case"] in HELDOUT_NAMES])):
            e = [scaled_error(r, a) for r in subset]
            if not e:
                continue
            size = [abs(x) for x in e]
            line.append(f"{label} ({len(e)}) total |error| median {statistics.median(size):.1f}%,"
                        f" max {max(size):.1f}%, mean {statistics.mean(e):+.1f}%;")
        print(" ".join(line))


if __name__ == "__main__":
    main()
