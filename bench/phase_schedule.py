#!/usr/bin/python3
"""Which order of dirty-rate periods reads a load that changes rate, offline.

A load that writes at random over a working set, fast for half of a cycle and slow for the other
half (tests/guest's "phased" is 1.75x and 0.25x of 6000 pages/s over 128 MiB with an 8 s cycle),
is "measured" by each plan of periods at a random point of its cycle: each period's distinct
pages follow from the writes it saw (W (1 - exp(-N / W))), QEMU's page sample (a binomial
draw from 16384 pages per GiB) and its flooring of the rate to whole MiB/s; a pause between
periods stands for QEMU's hashing and the calls around it. The tool then predicts offline from
each reading (--profile, with a stored bench row's guest, zero pages, settings and link), and
the prediction is compared with the tool's own prediction for the same load read exactly at its
mean rate: what the measurement's timing costs, apart from the model's error against real
migrations (bench.py scores that).

Nothing here is real QEMU: it is the arithmetic of the sampling, to compare plans before
measuring them for real. Prints, per plan, |error| median, 90th percentile and mean signed error
over all cycles and per cycle.

  VMP_TOOL=build/src/virt-migrate-predict bench/phase_schedule.py \\
      --row bench/results/2026-12-06-qemu10.0-phased-random-phase.jsonl \\
      --plan 125,250,500,1000,5750 --plan 125,250,1000,5750,500 --cycles 2,4,8,16
"""

import argparse
import json
import math
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the offline prediction and the profile a row saved)

PAGE = 4096
MiB = 1 << 20


def writes_between(a, b, cycle_s, fast, slow):
    """Pages written from a to b seconds by a load fast for the first half of each cycle."""
    def upto(t):
        n = math.floor(t / cycle_s)
        r = t - n * cycle_s
        half = cycle_s / 2
        return n * (fast + slow) * half + fast * min(r, half) + slow * max(0.0, r - half)
    return upto(b) - upto(a)


def read_plan(plan_ms, start_s, cycle_s, fast, slow, wss_pages, ram, pause_s, rng):
    """The curve points QEMU would report for the periods of plan_ms in that order from start_s."""
    sampled = round(16384 * ram / (1 << 30))
    t, points = start_s, {}
    for ms in plan_ms:
        s = ms / 1000
        n = writes_between(t, t + s, cycle_s, fast, slow)
        q = wss_pages * (1 - math.exp(-n / wss_pages)) * PAGE / ram
        k = min(sampled, max(0, round(rng.gauss(sampled * q, math.sqrt(sampled * q * (1 - q))))))
        mib_s = math.floor(k / sampled * ram / s / MiB)  # QEMU floors to whole MiB/s
        points.setdefault(ms, []).append(mib_s * MiB * s)
        t += s + pause_s
    out = []
    for ms in sorted(points):  # a period measured twice: the mean of its readings
        d = sum(points[ms]) / len(points[ms])
        out.append({"period_ms": float(ms), "dirty_bytes": d, "sampled_pages": sampled,
                    "dirty_sampled_pages": round(d / ram * sampled)})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--row", required=True,
                    help="bench results file; its first row of --case gives the guest and settings")
    ap.add_argument("--case", default="phased", help="the case whose row is taken (default phased)")
    ap.add_argument("--plan", action="append", required=True,
                    help="periods in ms in the order measured, comma-separated; repeatable")
    ap.add_argument("--cycles", default="2,3,4,6,8,10,12,16,20", help="cycle lengths, seconds")
    ap.add_argument("--fast", type=float, default=10500, help="pages/s in the fast half")
    ap.add_argument("--slow", type=float, default=1500, help="pages/s in the slow half")
    ap.add_argument("--wss-mib", type=float, default=128)
    ap.add_argument("--pause", type=float, default=0.2,
                    help="seconds between periods (QEMU's hashing and the calls)")
    ap.add_argument("--runs", type=int, default=60, help="random starting points per cycle")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    row, qemu = None, None
    with open(args.row) as f:
        for r in (json.loads(line) for line in f if line.strip()):
            if "header" in r:
                qemu = r["header"]["qemu"]
            elif r.get("case") == args.case and row is None:
                row = r
    if row is None or qemu is None:
        sys.exit(f"phase_schedule: no {args.case} row with a header in {args.row}")
    ram = row["guest_mib"] * MiB
    wss = args.wss_mib * MiB / PAGE
    link = ["--link-speed", f"{int(row['link_mib_s'] * MiB)}B/s"]

    def predict(points):
        profile = bench.saved_profile(dict(row, curve_points=points), qemu)
        return bench.offline(profile, row["speed_mib_s"], row["downtime_limit_ms"], 60,
                             link)["total_time_ms"]

    mean = (args.fast + args.slow) / 2
    exact = [{"period_ms": float(ms), "dirty_bytes": wss * (1 - math.exp(-mean * ms / 1000 / wss))
              * PAGE, "sampled_pages": 0, "dirty_sampled_pages": 0}
             for ms in sorted(int(x) for x in args.plan[0].split(","))]
    reference = predict(exact)
    print("reference: the load read exactly at its mean rate, "
          + (f"{reference:.0f} ms" if reference is not None else "does not converge"))
    rng = random.Random(args.seed)
    cycles = [float(c) for c in args.cycles.split(",")]
    for text in args.plan:
        plan = [int(x) for x in text.split(",")]
        every, per_cycle = [], []
        for cycle in cycles:
            errors = []
            for _ in range(args.runs):
                got = predict(read_plan(plan, rng.uniform(0, cycle), cycle, args.fast, args.slow,
                                        wss, ram, args.pause, rng))
                # A verdict other than the reference's: counted as 100% off.
                if got is None or reference is None:
                    errors.append(0.0 if got is reference else 100.0)
                else:
                    errors.append(100.0 * (got - reference) / reference)
            every += errors
            size = [abs(e) for e in errors]
            per_cycle.append(f"{cycle:g} s: {statistics.median(size):.1f}/"
                             f"{bench.percentile(size, 0.9):.1f}/{statistics.mean(errors):+.1f}")
        size = [abs(e) for e in every]
        print(f"{text:>28}: median {statistics.median(size):.1f}%, p90 "
              f"{bench.percentile(size, 0.9):.1f}%, mean {statistics.mean(every):+.1f}%  "
              f"(per cycle, median/p90/mean: {'; '.join(per_cycle)})")


if __name__ == "__main__":
    main()
