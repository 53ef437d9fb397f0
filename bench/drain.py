#!/usr/bin/python3
"""A drain plan (--drain) against real migrations sharing one link.

For each case (2-4 test guests with their loads and libvirt caps, a link speed, a number of
migrations at once): boot the guests, run `virt-migrate-predict --drain --domain ... --link-speed
LINK --concurrent K --json`, then carry the plan out for real: `virsh migrate --live` to
bench/setup-destination.sh's daemon in the planned order, K at once, the next one started when a
`virsh migrate` returns (as Nova's max_concurrent_live_migrations semaphore does) and every one
started before it is sending (one start at a time, as the plan starts them since 2026-12-07,
night: QEMU's query-migrate on the source in a state of a migration under way), and one the plan
runs alone only when every other has returned. Compared: each domain's libvirt job time
(domjobinfo --completed, "time elapsed") and the drain's total (from the first virsh migrate to
the last one's return) against the plan.

The link is real: the loopback path's migration ports (49152-49215, libvirt's migration_port_min
..max, to which QEMU's migration stream goes) are limited to LINK with an HTB class on lo (tc),
shared by every migration running, as on one host's NIC; the rest of lo is not limited. The class
is removed on every exit path (finally, and SIGINT/SIGTERM/SIGHUP turned into an exit that runs
it); `tc qdisc del dev lo root` removes it after a SIGKILL. The class's byte counter is kept with
the results, as evidence that the migrations went through it.

Run as root, under the VM lock, on a quiet machine:
  flock /tmp/vmp-vm.lock bench/drain.py [--cases NAME,...] [--repeat N] [--out FILE]
  bench/drain.py --summarize bench/results/FILE.jsonl
"""

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time

import libvirt

import bench
import host_memory

TOOL = bench.TOOL
SOURCE_URI = bench.SOURCE_URI
MiB = 1048576

# A guest: (suffix, MiB, working set MiB, page writes/s, pattern, libvirt cap MiB/s or 0 for none)
# A case: name, link MiB/s, migrations at once, guests. Max downtime: libvirt's default (300 ms).
CASES = [
    ("two-share", 64, 2, [("a", 1024, 256, 3000, "random", 0),
                          ("b", 512, 64, 0, "random", 0)]),
    ("three-two-slots", 64, 2, [("a", 512, 128, 4000, "random", 0),
                                ("b", 1024, 128, 2000, "random", 0),
                                ("c", 512, 64, 1000, "random", 0)]),
    ("capped-and-not", 80, 3, [("a", 512, 64, 2000, "random", 24),
                               ("b", 1024, 256, 4000, "random", 0),
                               ("c", 512, 64, 0, "random", 0)]),
    # 12000 writes/s over 128 MiB: converges with 64 MiB/s to itself, not with half of it.
    ("hot-alone", 64, 2, [("hot", 512, 128, 12000, "random", 0),
                          ("a", 512, 64, 2000, "random", 0),
                          ("b", 512, 64, 0, "random", 0)]),
    ("four-slots", 96, 4, [("a", 512, 64, 2000, "random", 0),
                           ("b", 512, 128, 4000, "sequential", 0),
                           ("c", 768, 128, 3000, "random", 0),
                           ("d", 512, 64, 0, "random", 0)]),
]
# Held out: written down after the cases above had been run once, before any change to the plan
# was scored on them; only scored (different sizes, caps, patterns, link speeds and seeds).
HELDOUT_CASES = [
    ("heldout-three-at-once", 72, 3, [("a", 768, 128, 3000, "random", 0),
                                      ("b", 512, 96, 5000, "sequential", 32),
                                      ("c", 1024, 64, 0, "random", 0)]),
    ("heldout-four-two-slots", 64, 2, [("a", 512, 64, 3000, "random", 0),
                                       ("b", 512, 128, 2000, "hotcold", 0),
                                       ("c", 768, 256, 4000, "random", 0),
                                       ("d", 512, 32, 500, "random", 0)]),
    ("heldout-caps-over-link", 64, 2, [("a", 1024, 128, 2000, "random", 40),
                                       ("b", 1024, 192, 3000, "random", 40)]),
]
HELDOUT_NAMES = {c[0] for c in HELDOUT_CASES}
CI_CASES = ["two-share"]

LINK_PORTS = (49152, 0xffc0)  # 49152-49215


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def tc(*args, check=True):
    return subprocess.run(["tc", *args], check=check, text=True, capture_output=True)


class SharedLink:
    """An HTB class on lo limiting the migration ports to one rate, shared."""

    def __init__(self, bytes_per_s):
        self.rate = int(bytes_per_s)

    def __enter__(self):
        tc("qdisc", "del", "dev", "lo", "root", check=False)
        tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10",
           "r2q", "1000")
        tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "40gbit")
        tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb",
           "rate", f"{self.rate}bps", "ceil", f"{self.rate}bps", "burst", "256k",
           "cburst", "256k")
        tc("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
           "match", "ip", "dport", str(LINK_PORTS[0]), hex(LINK_PORTS[1]), "flowid", "1:20")
        return self

    def sent_bytes(self):
        out = tc("-s", "class", "show", "dev", "lo").stdout
        block = out[out.index("class htb 1:20"):]
        return int(block.split("Sent ")[1].split()[0])

    def __exit__(self, *exc):
        tc("qdisc", "del", "dev", "lo", "root", check=False)
        return False


def carry_out(plan, src_conn, dest_uri, deadline_s):
    """Runs the plan's migrations as it orders them, as the plan starts them (a free slot, and
    every migration launched before sending: one start at a time); per domain: launch, return,
    what libvirt and QEMU said (bench.migrate)."""
    slots = plan["concurrent"]
    running = {}
    sending = {}
    results = {}
    lock = threading.Lock()
    t0 = time.monotonic()

    def one(name):
        launch = time.monotonic() - t0
        real = bench.migrate(src_conn, name, dest_uri, deadline_s, sending[name])
        with lock:
            results[name] = dict(real, launch_ms=round(launch * 1000),
                                 returns_ms=round((time.monotonic() - t0) * 1000))
            del running[name]

    def busy():
        with lock:
            return (len(running), any(m["alone"] for m in running.values()),
                    any(not sending[n].is_set() for n in running))

    for m in plan["migrations"]:
        while True:
            n, alone_busy, starting = busy()
            if not alone_busy and not starting and n < slots and not (m["alone"] and n > 0):
                break
            time.sleep(0.02)
        with lock:
            running[m["domain"]] = m
            sending[m["domain"]] = threading.Event()
            th = threading.Thread(target=one, args=(m["domain"],))
        th.start()
    while busy()[0]:
        time.sleep(0.02)
    total_ms = max(r["returns_ms"] for r in results.values()) if results else 0
    return results, total_ms


def pct(predicted, real):
    if predicted is None or not real:
        return None
    return round(100.0 * (predicted - real) / real, 1)


def inside(interval, real_ms):
    """Whether real_ms is within an interval {low, high} (high null: no upper bound); None
    without one."""
    if not interval or interval.get("low") is None or real_ms is None:
        return None
    return interval["low"] <= real_ms and (interval["high"] is None or real_ms <= interval["high"])


def run_case(case, seed, args, src_conn, dest_conn, dest_uri):
    name, link_mib, concurrent, guests = case
    names = [f"vmpdrain-{name}-{g[0]}" for g in guests]
    for n in names:
        bench.stop_guest(n, dest_conn)
    try:
        for n, (_, mem, wss, rate, pattern, cap) in zip(names, guests):
            bench.start_guest(n, mem, wss, rate, pattern, seed)
        # --arrived: the first guest came to this host by migration, the others were started
        # here; the tool lends them the steps the first one's arrival showed.
        arrival_s = bench.arrive_by_migration(names[0], dest_uri) if args.arrived else None
        for n, (_, mem, wss, rate, pattern, cap) in zip(names, guests):
            if cap:
                src_conn.lookupByName(n).migrateSetMaxSpeed(cap, 0)
        time.sleep(args.settle)
        link = link_mib * MiB
        cmd = [TOOL, "-c", SOURCE_URI, "--drain", "--link-speed", f"{link_mib}MiB/s",
               "--concurrent", str(concurrent), "--json", "-q"]
        for n in names:
            cmd += ["--domain", n]
        t = time.monotonic()
        r = subprocess.run(cmd, text=True, capture_output=True)
        measure_s = time.monotonic() - t
        report = json.loads(r.stdout)
        plan = report["drain"]
        with SharedLink(link) as shared:
            real, real_total_ms = carry_out(plan, src_conn, dest_uri, args.migration_deadline)
            link_bytes = shared.sent_bytes()
    finally:
        for n in names:
            bench.stop_guest(n, dest_conn)

    rows = []
    for m in plan["migrations"]:
        rr = real[m["domain"]]
        interval = m.get("total_time_interval_ms")
        rows.append({
            "domain": m["domain"], "order": m["order"], "alone": m["alone"],
            "predicted": {k: m[k] for k in ("launch_ms", "total_time_ms", "qemu_total_time_ms",
                                            "downtime_ms", "returns_ms", "transferred_bytes",
                                            "alone_total_time_ms", "converges")},
            "real": {k: rr[k] for k in ("completed", "launch_ms", "returns_ms",
                                        "libvirt_time_elapsed_ms", "qemu_total_time_ms",
                                        "libvirt_downtime_ms", "memory_processed_bytes",
                                        "other_cpu_share", "virsh_error",
                                        "qemu_series_columns", "qemu_series")},
            "time_error_pct": pct(m["total_time_ms"], rr["libvirt_time_elapsed_ms"])
            if rr["completed"] else None,
            "qemu_time_error_pct": pct(m["qemu_total_time_ms"], rr["qemu_total_time_ms"])
            if rr["completed"] else None,
            "alone_time_error_pct": pct(m["alone_total_time_ms"], rr["libvirt_time_elapsed_ms"])
            if rr["completed"] else None,
            "verdict_right": m["converges"] == rr["completed"],
            "interval_ms": interval,
            "in_interval": inside(interval, rr["libvirt_time_elapsed_ms"])
            if rr["completed"] else None,
        })
    return {
        "case": name, "set": "held-out" if name in HELDOUT_NAMES else "tuning", "seed": seed, "link_mib_s": link_mib, "concurrent": concurrent,
        "arrived": names[0] if args.arrived else None, "arrival_s": arrival_s,
        "guests": [list(g) for g in guests],
        "measure_s": round(measure_s, 2), "tool_status": r.returncode,
        "predicted_total_ms": plan["total_time_ms"],
        "real_total_ms": real_total_ms,
        "total_error_pct": pct(plan["total_time_ms"], real_total_ms),
        # The plan run with every domain at its interval's ends (null: a build without them).
        "predicted_total_interval_ms": plan.get("total_time_interval_ms"),
        "in_interval": inside(plan.get("total_time_interval_ms"), real_total_ms),
        "all_completed": all(x["real"]["completed"] for x in rows),
        "link_class_bytes": link_bytes,
        "migrations": rows,
        "plan": plan,
        # What each domain's own measurement found (the plan rests on it).
        "domains": [{k: d.get(k) for k in ("subject", "guest", "curve", "warnings", "prediction",
                                           "measurement", "libvirt_steps", "error")}
                    for d in report["domains"]],
    }


def interval_text(interval):
    if not interval or interval.get("low") is None:
        return ""
    high = "-" if interval["high"] is None else f"{interval['high'] / 1000:.1f}"
    return f" (interval {interval['low'] / 1000:.1f}-{high} s)"


def print_case(row):
    print(f"{row['case']} (link {row['link_mib_s']} MiB/s, {row['concurrent']} at once, "
          f"seed {row['seed']}): total predicted {row['predicted_total_ms'] / 1000:.1f} s"
          f"{interval_text(row.get('predicted_total_interval_ms'))}, "
          f"real {row['real_total_ms'] / 1000:.1f} s ({row['total_error_pct']:+.1f}%); "
          f"through the link class {row['link_class_bytes'] / MiB:.0f} MiB")
    for m in row["migrations"]:
        p, r = m["predicted"], m["real"]
        real_t = r["libvirt_time_elapsed_ms"]
        print(f"  {m['order']}. {m['domain']:<26} launch {p['launch_ms'] / 1000:5.1f}/"
              f"{r['launch_ms'] / 1000:5.1f} s  job {p['total_time_ms'] or 0:7.0f}/"
              f"{real_t or 0:7.0f} ms ({m['time_error_pct'] if m['time_error_pct'] is not None else '-':>5}%)"
              f"  alone {p['alone_total_time_ms']:7.0f} ms ({m['alone_time_error_pct']}%)"
              f"{'  ALONE' if m['alone'] else ''}{'' if r['completed'] else '  NOT COMPLETED'}")


def summary(rows):
    lines = []
    for label, subset in (("tuning", [r for r in rows if r["case"] not in HELDOUT_NAMES]),
                          ("held-out", [r for r in rows if r["case"] in HELDOUT_NAMES])):
        if subset:
            lines += [f"{label}: {line}" for line in summary_of(subset)]
    return lines


def summary_of(rows):
    totals = [abs(r["total_error_pct"]) for r in rows if r["total_error_pct"] is not None]
    per = [abs(m["time_error_pct"]) for r in rows for m in r["migrations"]
           if m["time_error_pct"] is not None]
    alone = [abs(m["alone_time_error_pct"]) for r in rows for m in r["migrations"]
             if m["alone_time_error_pct"] is not None and r["concurrent"] > 1 and not m["alone"]]
    verdicts = [m["verdict_right"] for r in rows for m in r["migrations"]]
    per_held = [m["in_interval"] for r in rows for m in r["migrations"]
                if m.get("in_interval") is not None]
    lines = []
    if totals:
        lines.append(f"drain total vs real: median |error| {statistics.median(totals):.1f}%, "
                     f"max {max(totals):.1f}% over {len(totals)} drains")
    held = [r["in_interval"] for r in rows if r.get("in_interval") is not None]
    if held:
        lines.append(f"the real total inside the plan's interval: {sum(held)}/{len(held)}")
    if per:
        lines.append(f"each migration's libvirt job time: median |error| "
                     f"{statistics.median(per):.1f}%, max {max(per):.1f}% over {len(per)}")
    if per_held:
        lines.append(f"each migration's job time inside its interval in the plan: "
                     f"{sum(per_held)}/{len(per_held)}")
    if alone:
        lines.append(f"the same migrations predicted as if alone (no sharing): median |error| "
                     f"{statistics.median(alone):.1f}% over {len(alone)}")
    lines.append(f"verdicts right: {sum(verdicts)}/{len(verdicts)}")
    # libvirt's steps: the figure each domain was predicted with (its own arrival, one lent, or
    # the default), against its migration's own (libvirt's time elapsed less QEMU's total-time).
    used, took, kinds = [], [], {"own": 0, "lent": 0, "default": 0}
    for r in rows:
        steps = {d["subject"]: d.get("libvirt_steps") for d in r.get("domains", [])}
        for m in r["migrations"]:
            s, real = steps.get(m["domain"]), m["real"]
            if not s or not real["completed"] or not real["libvirt_time_elapsed_ms"]:
                continue
            used.append(s["ms"])
            took.append(real["libvirt_time_elapsed_ms"] - real["qemu_total_time_ms"])
            kinds["lent" if s.get("seen_from_domain") else
                  "own" if s.get("seen_here") else "default"] += 1
    if used:
        lines.append(f"libvirt steps: predicted with median {statistics.median(used):.0f} ms "
                     f"(own arrival {kinds['own']}, lent {kinds['lent']}, default "
                     f"{kinds['default']}); the migrations' own: median "
                     f"{statistics.median(took):.0f} ms, {min(took)}-{max(took)} ms")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="all",
                    help="all (the tuning set), heldout, everything, ci, or names separated by commas")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--migration-deadline", type=int, default=120)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--out")
    ap.add_argument("--max-error", type=float,
                    help="fail when a drain's total is off by more than this many %%")
    ap.add_argument("--summarize", nargs="+", metavar="FILE")
    ap.add_argument("--arrived", action="store_true",
                    help="migrate each drain's first guest to the destination and back first: "
                         "libvirt's steps as this host saw it arrive, lent to the others")
    args = ap.parse_args()
    if args.summarize:
        rows = []
        for path in args.summarize:
            with open(path) as f:
                rows += [json.loads(l) for l in f if l.strip() and '"header"' not in l[:12]]
        for r in rows:
            print_case(r)
        for line in summary(rows):
            print(line)
        return 0
    names = ([c[0] for c in CASES] if args.cases == "all" else CI_CASES if args.cases == "ci"
             else [c[0] for c in HELDOUT_CASES] if args.cases == "heldout"
             else [c[0] for c in CASES + HELDOUT_CASES] if args.cases == "everything"
             else args.cases.split(","))
    cases = [c for c in CASES + HELDOUT_CASES if c[0] in names]
    if len(cases) != len(names):
        sys.exit(f"drain.py: unknown cases: {set(names) - {c[0] for c in cases}}")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.default_int_handler)
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    with host_memory.warmed():
        dest_uri = bench.run([os.path.join(bench.ROOT, "bench", "setup-destination.sh")]).stdout.strip()
        src_conn = libvirt.open(SOURCE_URI)
        dest_conn = libvirt.open(dest_uri)
        header = {"date": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
                  "host": platform.node(), "cpus": os.cpu_count(),
                  "qemu": src_conn.getVersion(), "libvirt": src_conn.getLibVersion(),
                  "tool": bench.run([TOOL, "--version"]).stdout.strip()}
        stack = bench.stack_name(header["qemu"], header["libvirt"])
        out = open(args.out, "a") if args.out else None
        if out:
            out.write(json.dumps({"header": header}) + "\n")
        rows = []
        for rep in range(args.repeat):
            for case in cases:
                log(f"drain: {case[0]} (repeat {rep + 1}/{args.repeat})")
                row = run_case(case, args.first_seed + rep, args, src_conn, dest_conn, dest_uri)
                row["stack"] = stack
                rows.append(row)
                print_case(row)
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
        for line in summary(rows):
            print(f"[{stack}] {line}")
    bad = [r["case"] for r in rows if not all(m["verdict_right"] for m in r["migrations"])]
    if args.max_error is not None:
        bad += [r["case"] for r in rows
                if r["total_error_pct"] is None or abs(r["total_error_pct"]) > args.max_error]
    if bad:
        print(f"[{stack}] drain: FAILED: {', '.join(sorted(set(bad)))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
