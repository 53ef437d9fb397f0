#!/usr/bin/python3
"""How well one steady random-writes law explains each stored measurement; a study.

For every stored bench.py run with a measured curve, fits W (1 - exp(-r t / W)) to the periods'
readings by least squares weighted by each reading's error (the binomial error of QEMU's page
sample, and the whole MiB/s QEMU floors the rate to, as a uniform error over one MiB/s x the
period), and prints chi-square per case and stack, with the tool's reading of the run (as
measured, or at the mean of a load whose rate changed) and its error against libvirt's time.

The question it answers: can a load that changes rate be told from a steady one by how badly the
law fits, where the existing test (model::rate_change: pairs of periods no steady load gives)
sees nothing? For the held-out phased load (1.75x for 4 s, 0.25x for 4 s) measured in its fast
phase, no: its readings fit a steady small working set as well as steady loads fit theirs.

Migrates nothing:
  bench/steady_fit.py bench/results/2026-12-0[67]-qemu*.jsonl
"""

import argparse
import collections
import json
import math
import statistics

MiB = 1048576
SKIP = ("arm-", "huge-", "fast-", "cap-study-")


def reading_sd(p, ram):
    n = p["sampled_pages"]
    q = min(max(p["dirty_bytes"] / ram, 0.5 / n), 1)
    sample = ram * math.sqrt(q * (1 - q) / n)
    floor = MiB * p["period_ms"] / 1000 / math.sqrt(12)
    return math.hypot(sample, floor)


def chi_square(points, ram):
    """The least chi-square of the law over a grid of W (1/1000 of RAM to all of it) and r."""
    best = math.inf
    for i in range(200):
        w = ram * 10 ** (-3 + 3 * i / 199)
        for j in range(120):
            r = ram * 10 ** (-4 + 4 * j / 119)
            c = 0.0
            for p in points:
                model = w * (1 - math.exp(-r * p["period_ms"] / 1000 / w))
                c += ((p["dirty_bytes"] - model) / p["sd"]) ** 2
                if c >= best:
                    break
            best = min(best, c)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    by = collections.defaultdict(list)
    for path in args.files:
        if "drain" in path or "many" in path:
            continue
        qemu = None
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if "header" in r:
                    qemu = r["header"].get("qemu")
                    continue
                if "curve_points" not in r or r.get("case", "").startswith(SKIP):
                    continue
                ram = r["guest_mib"] * MiB
                points = [dict(p) for p in r["curve_points"] if p.get("sampled_pages")]
                if len(points) < 3:
                    continue
                for p in points:
                    p["sd"] = reading_sd(p, ram)
                err = r.get("time_error_pct")
                by[(qemu, r["case"])].append((chi_square(points, ram), r.get("curve_reading"),
                                               None if err is None else round(err, 1)))
    for (qemu, case), runs in sorted(by.items()):
        runs.sort(key=lambda x: x[0])
        print(f"QEMU {qemu // 1000000}.{qemu // 1000 % 1000} {case} ({len(runs)} runs): chi-square "
              f"median {statistics.median(c for c, _, _ in runs):.1f}, max {runs[-1][0]:.1f}")
        if case == "phased":
            for c, reading, err in runs:
                print(f"    {c:7.1f}  {reading:<12} error {err}%")


if __name__ == "__main__":
    main()
