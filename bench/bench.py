#!/usr/bin/python3
"""Accuracy of virt-migrate-predict against real migrations.

For each case: boot the test guest (tests/guest) as a persistent libvirt domain with a chosen
load, set its max speed and max downtime through libvirt as an operator would, run the tool
(--json), then let libvirt migrate the guest for real over loopback to a second libvirt daemon
(bench/setup-destination.sh) and record predicted against real.

Real figures come from two places on the source:
  - QEMU's own query-migrate, polled while the migration runs: total-time counts from the
    start of QEMU's migration to its completion, which is what the model predicts;
  - libvirt's completed job statistics (virsh domjobinfo --completed): downtime, bytes,
    iterations, and libvirt's "time elapsed", which also counts starting the destination QEMU.
A migration still running after --migration-deadline seconds is aborted: it did not converge.

The same cases score two baselines: RAM / bandwidth, and the 2023 RFC predictor's model
(piecewise-linear curve from the whole-second points, no zero-page data), the latter through
the tool itself on a copy of the measured profile.

Run as root on an otherwise idle machine (TCG guests compete for the CPU):
  bench/bench.py [--cases all|ci|NAME,...] [--repeat N] [--out bench/results/FILE.jsonl]
Prints a table per case and a summary; exits non-zero when --max-error or verdicts fail.
"""

import argparse
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import libvirt
import libvirt_qemu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.environ.get("VMP_TOOL", os.path.join(ROOT, "build", "src", "virt-migrate-predict"))
GUEST = os.path.join(ROOT, "tests", "guest")
SOURCE_URI = "qemu:///system"

# name, guest MiB, working set MiB, page writes/s, pattern, max speed MiB/s, max downtime ms
CASES = [
    ("idle", 512, 64, 0, "random", 64, 300),
    ("random-small", 512, 64, 2000, "random", 64, 300),
    ("random-1g-128", 1024, 256, 5000, "random", 128, 300),
    ("random-1g-64", 1024, 256, 5000, "random", 64, 300),
    ("sequential", 512, 128, 4000, "sequential", 64, 300),
    ("hotcold", 512, 128, 8000, "hotcold", 64, 300),
    ("bursty", 512, 64, 4000, "bursty", 32, 300),
    ("growing", 512, 128, 3000, "growing", 64, 300),
    ("hot-over-limit", 512, 64, 100000, "random", 64, 300),
    ("hot-under-raised-limit", 512, 64, 100000, "random", 64, 2000),
    ("faster-than-link", 512, 128, 20000, "random", 32, 300),
]
CI_CASES = ["random-small", "hot-over-limit", "idle"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def start_guest(name, mem, wss, rate, pattern, seed):
    env = dict(os.environ, VMP_GUEST_PERSISTENT="1", LIBVIRT_URI=SOURCE_URI)
    run([os.path.join(GUEST, "start-guest.sh"), name, str(mem), str(wss), str(rate), pattern,
         str(seed)], env=env)


def stop_guest(name, dest_conn):
    try:
        dest_conn.lookupByName(name).destroy()
    except libvirt.libvirtError:
        pass
    env = dict(os.environ, VMP_GUEST_PERSISTENT="1", LIBVIRT_URI=SOURCE_URI)
    run([os.path.join(GUEST, "stop-guest.sh"), name], env=env, check=False)


def measure_link_bytes_per_s(total=256 << 20, chunk=1 << 20):
    """The loopback link's speed on this host as it is now: one TCP stream over 127.0.0.1, as
    an operator would quote a link's speed. Migration runs over the same path."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    received = [0]

    def drain():
        conn, _ = server.accept()
        while True:
            data = conn.recv(chunk)
            if not data:
                break
            received[0] += len(data)
        conn.close()

    reader = threading.Thread(target=drain)
    reader.start()
    client = socket.create_connection(server.getsockname())
    payload = b"\x5a" * chunk
    t0 = time.monotonic()
    for _ in range(total // chunk):
        client.sendall(payload)
    client.close()
    reader.join()
    seconds = time.monotonic() - t0
    server.close()
    return received[0] / seconds


def predict(name, deadline_s, profile_path, link_bytes_per_s):
    t0 = time.monotonic()
    r = run([TOOL, "-c", SOURCE_URI, "--domain", name, "--json", "--quiet",
             "--deadline", f"{deadline_s}s", "--save-profile", profile_path,
             "--link-speed", f"{int(link_bytes_per_s)}B/s"], check=False)
    seconds = time.monotonic() - t0
    if r.returncode not in (0, 3, 4, 5):
        raise RuntimeError(f"tool failed ({r.returncode}): {r.stderr.strip()}")
    return json.loads(r.stdout), seconds


def offline(profile, bandwidth_mib, downtime_ms, deadline_s, extra):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(profile, f)
        path = f.name
    try:
        r = run([TOOL, "--profile", path, "--json", "--bandwidth", f"{bandwidth_mib}MiB/s",
                 "--downtime", f"{downtime_ms}ms", "--deadline", f"{deadline_s}s"] + extra,
                check=False)
        return json.loads(r.stdout)["prediction"]
    finally:
        os.unlink(path)


def rfc_baseline(profile, bandwidth_mib, downtime_ms, deadline_s):
    """The 2023 RFC predictor's model: whole-second points, no zero pages, linear curve."""
    p = json.loads(json.dumps(profile))
    p["dirty_curve"] = [c for c in p["dirty_curve"] if c["period_ms"] % 1000 == 0]
    p["zero_pages"] = {"count": 0, "method": "none", "sampled_pages": 0}
    return offline(p, bandwidth_mib, downtime_ms, deadline_s, ["--curve", "piecewise-linear"])


def migrate(src_conn, name, dest_uri, migration_deadline_s):
    """Migrates for real; returns what QEMU and libvirt say about it."""
    dom = src_conn.lookupByName(name)
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE)
    xml = xml.replace(f"/var/lib/libvirt/vmp-guest/logs/{name}.console.log",
                      f"/home/vmpdest/bench/{name}.console.log")
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False, dir="/tmp") as f:
        f.write(xml)
        xml_path = f.name
    os.chmod(xml_path, 0o644)
    cmd = ["virsh", "-c", SOURCE_URI, "migrate", "--live", name, dest_uri,
           "--migrateuri", "tcp://127.0.0.1", "--xml", xml_path]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = []
    aborted = False
    t0 = time.monotonic()
    while proc.poll() is None:
        try:
            reply = json.loads(libvirt_qemu.qemuMonitorCommand(
                dom, '{"execute":"query-migrate"}', 0))["return"]
            samples.append((time.monotonic() - t0, reply))
        except libvirt.libvirtError:
            pass  # the source QEMU is gone: the migration ended
        if not aborted and time.monotonic() - t0 > migration_deadline_s:
            run(["virsh", "-c", SOURCE_URI, "domjobabort", name], check=False)
            aborted = True
        time.sleep(0.02)
    out, err = proc.communicate()
    os.unlink(xml_path)
    wall_s = time.monotonic() - t0
    completed = proc.returncode == 0 and not aborted
    qemu_total_ms = None
    qemu_downtime_ms = None
    for _, s in samples:
        if s.get("status") == "completed":
            qemu_total_ms = s.get("total-time")
            qemu_downtime_ms = s.get("downtime")
    last_active = [s for _, s in samples if s.get("status") in ("active", "device")]
    if completed and qemu_total_ms is None and last_active:
        # QEMU went before the last poll saw "completed": bound it by the last active sample.
        qemu_total_ms = last_active[-1].get("total-time")
    stats = {}
    try:
        stats = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    except libvirt.libvirtError:
        pass
    return {
        "completed": completed,
        "aborted": aborted,
        "virsh_error": err.strip() if proc.returncode else "",
        "wall_s": round(wall_s, 3),
        "qemu_total_time_ms": qemu_total_ms,
        "qemu_downtime_ms": qemu_downtime_ms,
        "libvirt_time_elapsed_ms": stats.get("time_elapsed"),
        "libvirt_downtime_ms": stats.get("downtime"),
        "memory_processed_bytes": stats.get("memory_processed"),
        "memory_total_bytes": stats.get("memory_total"),
        "memory_constant_pages": stats.get("memory_constant"),
        "memory_normal_pages": stats.get("memory_normal"),
        "memory_iteration": stats.get("memory_iteration"),
        "memory_bps": stats.get("memory_bps"),
        "setup_time_ms": stats.get("setup_time"),
    }


def pct_error(predicted, real):
    if predicted is None or real in (None, 0):
        return None
    return 100.0 * (predicted - real) / real


def run_case(case, seed, args, src_conn, dest_conn, dest_uri):
    name, mem, wss, rate, pattern, speed, downtime = case
    dom_name = f"vmpbench-{name}"
    stop_guest(dom_name, dest_conn)
    start_guest(dom_name, mem, wss, rate, pattern, seed)
    try:
        dom = src_conn.lookupByName(dom_name)
        dom.migrateSetMaxSpeed(speed, 0)
        dom.migrateSetMaxDowntime(downtime, 0)
        time.sleep(args.settle)  # let the load reach its steady state
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            profile_path = os.path.join(tmp, "profile.json")
            link = measure_link_bytes_per_s()
            report, measure_s = predict(dom_name, args.migration_deadline, profile_path, link)
            with open(profile_path) as f:
                profile = json.load(f)
        real = migrate(src_conn, dom_name, dest_uri, args.migration_deadline)
    finally:
        stop_guest(dom_name, dest_conn)

    pred = report["prediction"]
    ram = profile["guest"]["ram_bytes"]
    bw = speed * 1048576.0
    naive_ms = 1000.0 * ram / bw
    rfc = rfc_baseline(profile, speed, downtime, args.migration_deadline)
    upper = offline(profile, speed, downtime, args.migration_deadline, [])  # no --link-speed
    real_ms = real["qemu_total_time_ms"]
    row = {
        "case": name, "seed": seed, "guest_mib": mem, "wss_mib": wss, "rate": rate,
        "pattern": pattern, "speed_mib_s": speed, "downtime_limit_ms": downtime,
        "measure_s": round(measure_s, 2),
        "link_mib_s": round(link / 1048576, 1),
        "predicted_without_link": {k: upper[k] for k in ("converges", "total_time_ms",
                                                         "downtime_ms")},
        "predicted": {k: pred[k] for k in ("converges", "total_time_ms", "downtime_ms",
                                           "iterations", "transferred_bytes")},
        "zero_pages": profile["zero_pages"], "curve_points": profile["dirty_curve"],
        "curve_kind": report["curve"]["kind"],
        "rfc": {k: rfc[k] for k in ("converges", "total_time_ms", "transferred_bytes")},
        "naive_ms": naive_ms,
        "real": real,
        "verdict_right": pred["converges"] == real["completed"],
        "rfc_verdict_right": rfc["converges"] == real["completed"],
        "time_error_pct": pct_error(pred["total_time_ms"], real_ms) if real["completed"] else None,
        "rfc_time_error_pct": (pct_error(rfc["total_time_ms"], real_ms)
                               if real["completed"] else None),
        "naive_time_error_pct": pct_error(naive_ms, real_ms) if real["completed"] else None,
        "without_link_time_error_pct": (pct_error(upper["total_time_ms"], real_ms)
                                        if real["completed"] else None),
        "bytes_error_pct": (pct_error(pred["transferred_bytes"], real["memory_processed_bytes"])
                            if real["completed"] else None),
    }
    return row


def fmt(v, unit="", width=8):
    if v is None:
        return "-".rjust(width)
    if isinstance(v, float):
        return f"{v:.1f}{unit}".rjust(width)
    return f"{v}{unit}".rjust(width)


def print_row(r):
    p, real = r["predicted"], r["real"]
    print(f"{r['case']:<24} seed {r['seed']}: measured {r['measure_s']} s, curve {r['curve_kind']},"
          f" loopback link {r['link_mib_s']} MiB/s")
    print(f"  {'':10}{'verdict':>10}{'time ms':>10}{'downtime':>10}{'MiB sent':>10}{'iter':>6}")
    print(f"  {'predicted':10}{str(p['converges']):>10}{fmt(p['total_time_ms'], width=10)}"
          f"{fmt(p['downtime_ms'], width=10)}{p['transferred_bytes'] / 1048576:10.1f}"
          f"{p['iterations']:6}")
    sent = real["memory_processed_bytes"]
    iters = real["memory_iteration"]
    print(f"  {'real':10}{str(real['completed']):>10}{fmt(real['qemu_total_time_ms'], width=10)}"
          f"{fmt(real['libvirt_downtime_ms'], width=10)}"
          f"{(sent or 0) / 1048576:10.1f}{fmt(iters - 2 if iters else None, width=6)}"
          f"   (libvirt elapsed {real['libvirt_time_elapsed_ms']} ms, wall {real['wall_s']} s)")
    print(f"  {'rfc-2023':10}{str(r['rfc']['converges']):>10}"
          f"{fmt(r['rfc']['total_time_ms'], width=10)}{'':>10}"
          f"{r['rfc']['transferred_bytes'] / 1048576:10.1f}")
    print(f"  error: ours {fmt(r['time_error_pct'], '%')}"
          f" (without --link-speed {fmt(r['without_link_time_error_pct'], '%')}),"
          f" rfc {fmt(r['rfc_time_error_pct'], '%')},"
          f" RAM/bw {fmt(r['naive_time_error_pct'], '%')}; bytes {fmt(r['bytes_error_pct'], '%')}")


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(rows):
    def stats(key):
        errs = [abs(r[key]) for r in rows if r[key] is not None]
        return (statistics.median(errs) if errs else None, percentile(errs, 0.9), len(errs))

    lines = []
    for label, key, verdict in (("virt-migrate-predict", "time_error_pct", "verdict_right"),
                                ("  without --link-speed", "without_link_time_error_pct", None),
                                ("2023 RFC model", "rfc_time_error_pct", "rfc_verdict_right"),
                                ("RAM / bandwidth", "naive_time_error_pct", None)):
        med, p90, n = stats(key)
        right = sum(1 for r in rows if r[verdict]) if verdict else None
        lines.append(f"{label:<22} total time |error| median {fmt(med, '%')}, p90 {fmt(p90, '%')}"
                     f" over {n} converged runs"
                     + (f"; verdicts right {right}/{len(rows)}" if verdict else ""))
    dt = [abs(r["predicted"]["downtime_ms"] - r["real"]["libvirt_downtime_ms"]) for r in rows
          if r["real"]["completed"] and r["predicted"]["downtime_ms"] is not None
          and r["real"]["libvirt_downtime_ms"] is not None]
    if dt:
        lines.append(f"{'downtime (ours)':<22} |error| median {statistics.median(dt):.0f} ms, "
                     f"p90 {percentile(dt, 0.9):.0f} ms")
    bytes_med, bytes_p90, _ = stats("bytes_error_pct")
    lines.append(f"{'bytes sent (ours)':<22} |error| median {fmt(bytes_med, '%')}, "
                 f"p90 {fmt(bytes_p90, '%')}")
    measure = [r["measure_s"] for r in rows]
    lines.append(f"{'measuring':<22} median {statistics.median(measure):.1f} s, "
                 f"max {max(measure):.1f} s")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="all", help="all, ci, or names separated by commas")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--migration-deadline", type=int, default=60,
                    help="seconds before a migration is aborted as not converging")
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--out", help="JSON lines file for the results")
    ap.add_argument("--max-error", type=float,
                    help="fail when a converged case's total-time error exceeds this many %%")
    args = ap.parse_args()

    names = [c[0] for c in CASES] if args.cases == "all" else (
        CI_CASES if args.cases == "ci" else args.cases.split(","))
    cases = [c for c in CASES if c[0] in names]
    unknown = set(names) - {c[0] for c in cases}
    if unknown:
        sys.exit(f"bench.py: unknown cases: {', '.join(sorted(unknown))}")

    # python-libvirt prints every error it raises; the ones that matter are raised and handled.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    dest_uri = run([os.path.join(ROOT, "bench", "setup-destination.sh")]).stdout.strip()
    src_conn = libvirt.open(SOURCE_URI)
    dest_conn = libvirt.open(dest_uri)
    header = {"date": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
              "host": platform.node(), "cpus": os.cpu_count(),
              "qemu": src_conn.getVersion(), "libvirt": src_conn.getLibVersion(),
              "tool": run([TOOL, "--version"]).stdout.strip()}
    print(json.dumps(header))
    rows = []
    out = open(args.out, "a") if args.out else None
    if out:
        out.write(json.dumps({"header": header}) + "\n")
    for rep in range(args.repeat):
        for case in cases:
            log(f"bench: {case[0]} (repeat {rep + 1}/{args.repeat})")
            row = run_case(case, 1 + rep, args, src_conn, dest_conn, dest_uri)
            rows.append(row)
            print_row(row)
            if out:
                out.write(json.dumps(row) + "\n")
                out.flush()
    print()
    for line in summary(rows):
        print(line)
    failed = [r for r in rows if not r["verdict_right"]]
    if args.max_error is not None:
        failed += [r for r in rows
                   if r["time_error_pct"] is not None and abs(r["time_error_pct"]) > args.max_error]
    if failed:
        print("bench: FAILED: " + ", ".join(sorted({r["case"] for r in failed})))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
