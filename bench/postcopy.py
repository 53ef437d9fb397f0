#!/usr/bin/python3
"""Post-copy: the tool's prediction against real libvirt migrations with post-copy.

For each case RATE:SPEED[:POSTCOPY_SPEED] (page writes/s over a 64 MiB random working set in a
512 MiB test guest, migration cap in MiB/s, optionally libvirt's post-copy cap in MiB/s: set on
the domain, where the tool reads it, and given as --postcopy-bandwidth; max downtime 300 ms;
cases where pre-copy alone does not converge, so post-copy is what an operator would use):
boot the guest, predict with --allow-postcopy and the loopback link's measured speed
(post-copy's pages go at the link's speed unless capped), then migrate for real with
`virsh migrate --live --postcopy --postcopy-after-precopy` to bench/setup-destination.sh's
daemon, polling QEMU's query-migrate on the source every 10 ms: when the status turned
postcopy-active (the switch), total time, downtime, bytes and postcopy-requests (the
destination's page faults). A migration still running after 300 s is aborted. One JSON line
per run on stdout (and --out FILE); --summarize FILE... prints the table and median errors.

The destination's QEMU runs as user vmpdest, and post-copy needs userfaultfd there. On this
host vm.unprivileged_userfaultfd is 0, and QEMU 7.2 opens userfaultfd through the syscall
(not /dev/userfaultfd, which came in QEMU 8.1), so an unprivileged QEMU cannot. This script
SETS vm.unprivileged_userfaultfd=1 FOR ITS DURATION ONLY and restores the previous value on
every exit path (finally, and SIGINT/SIGTERM/SIGHUP turned into an exit that runs it). A
SIGKILL cannot be caught: check `sysctl vm.unprivileged_userfaultfd` after killing it so.
libvirt drives the migration (rather than QMP to a root QEMU started with -incoming) because
that is the path the model describes: virsh's switch after the first pass, libvirt's caps.

Run as root, under the VM lock, on a quiet machine:
  flock /tmp/vmp-vm.lock bench/postcopy.py [--repeat N] [--out FILE] 100000:32 30000:16
  flock /tmp/vmp-vm.lock bench/postcopy.py --hugepages [--wss 256] 20000:32   (2 MiB pages; rows
      keep the prediction with 4 KiB pages everywhere, the model before, as predicted_as_4k)
  bench/postcopy.py --summarize bench/results/2026-11-23-vm-2cores-postcopy.jsonl
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
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import host_memory  # noqa: E402

ROOT = bench.ROOT
TOOL = bench.TOOL
UFFD_SYSCTL = "/proc/sys/vm/unprivileged_userfaultfd"
MEM_MIB, WSS_MIB, DOWNTIME_MS, DEADLINE_S = 512, 64, 300, 300


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


def predict(name, speed, link, profile_path):
    r = bench.run([TOOL, "-c", bench.SOURCE_URI, "-d", name, "--json", "-q", "--allow-postcopy",
                   "--max-downtime", str(DOWNTIME_MS), "--max-bandwidth", f"{speed}MiB/s",
                   "--deadline", f"{DEADLINE_S}s", "--link-speed", f"{int(link)}B/s",
                   "--save-profile", profile_path], check=False)
    if r.returncode not in (0, 3, 4, 5):
        raise RuntimeError(f"tool failed ({r.returncode}): {r.stderr.strip()}")
    return json.loads(r.stdout)


def predict_offline(profile_path, speed, extra):
    r = bench.run([TOOL, "--profile", profile_path, "--json", "--allow-postcopy",
                   "--bandwidth", f"{speed}MiB/s", "--downtime", f"{DOWNTIME_MS}ms",
                   "--max-downtime", str(DOWNTIME_MS), "--max-bandwidth", f"{speed}MiB/s",
                   "--deadline", f"{DEADLINE_S}s"] + extra, check=False)
    return json.loads(r.stdout)


PC_KEYS = ("postcopy_started", "total_time_ms", "switchover_ms", "downtime_ms",
           "postcopy_phase_ms", "postcopy_bytes", "transferred_bytes")


def migrate(src, name, dest_uri, postcopy_speed):
    import libvirt
    import libvirt_qemu
    dom = src.lookupByName(name)
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE).replace(
        f"/var/lib/libvirt/vmp-guest/logs/{name}.console.log",
        f"/home/vmpdest/bench/{name}.console.log")
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False, dir="/tmp") as f:
        f.write(xml)
        xml_path = f.name
    os.chmod(xml_path, 0o644)
    # Never an exec: URI: the source QEMU runs with -sandbox spawn=deny.
    p = subprocess.Popen(["virsh", "-c", bench.SOURCE_URI, "migrate", "--live", "--postcopy",
                          "--postcopy-after-precopy", name, dest_uri,
                          "--migrateuri", "tcp://127.0.0.1", "--xml", xml_path]
                         + (["--postcopy-bandwidth", str(postcopy_speed)]
                            if postcopy_speed else []),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    samples, aborted = [], False
    try:
        while p.poll() is None:
            try:
                q = json.loads(libvirt_qemu.qemuMonitorCommand(
                    dom, '{"execute":"query-migrate"}', 0))["return"]
                samples.append((round((time.monotonic() - t0) * 1000), q))
            except libvirt.libvirtError:
                pass  # the source QEMU is gone
            if not aborted and time.monotonic() - t0 > DEADLINE_S:
                bench.run(["virsh", "-c", bench.SOURCE_URI, "domjobabort", name], check=False)
                aborted = True
            time.sleep(0.01)
        _, err = p.communicate()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.unlink(xml_path)
    stats = {}
    try:
        stats = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    except libvirt.libvirtError:
        pass
    series = [[t, q.get("status"), q.get("total-time"), q.get("ram", {}).get("transferred"),
               q.get("ram", {}).get("remaining"), q.get("ram", {}).get("dirty-sync-count"),
               q.get("ram", {}).get("mbps"), q.get("ram", {}).get("postcopy-requests"),
               q.get("downtime")] for t, q in samples]
    real = {"rc": p.returncode, "aborted": aborted, "virsh_error": err.strip()[-300:],
            "completed": p.returncode == 0 and not aborted,
            "libvirt_downtime_ms": stats.get("downtime"),
            "libvirt_memory_processed_bytes": stats.get("memory_processed"),
            "libvirt_time_elapsed_ms": stats.get("time_elapsed"),
            "qemu_series": series}
    real.update(from_series(series, real["completed"]))
    return real


# qemu_series columns: poll time ms, status, total-time, ram transferred, ram remaining,
# dirty-sync-count, mbps, postcopy-requests, downtime.
T, STATUS, TOTAL, XFER, REMAINING, SYNCS, MBPS, REQUESTS, DOWNTIME = range(9)


def from_series(series, completed):
    """The real figures, from QEMU's query-migrate as polled (recomputed by --summarize)."""
    pc = [x for x in series if x[STATUS] == "postcopy-active"]
    before = [x for x in series if x[STATUS] in ("active", "device", "pre-switchover")]
    done = next((x for x in series if x[STATUS] == "completed"), None)
    last = done or (series[-1] if series else [None] * 9)
    # QEMU 7.2 sets "completed" before it computes total-time: a poll in between reads 0. Then,
    # as when QEMU exits before a poll sees it completed, the last poll in post-copy bounds the
    # total time from below (ram remaining there says how close it was).
    total_seen = done is not None and bool(done[TOTAL])
    bound = pc[-1] if pc else None
    return {
        # The switch: QEMU's total-time at the first poll that saw postcopy-active, between the
        # last poll before it and that one.
        "switch_seen_ms": pc[0][TOTAL] if pc else None,
        "switch_after_ms": before[-1][TOTAL] if before else None,
        "first_pass_sync_ms": next((x[TOTAL] for x in series if (x[SYNCS] or 0) >= 2), None),
        "bytes_at_switch": pc[0][XFER] if pc else None,
        "remaining_at_switch": pc[0][REMAINING] if pc else None,
        "qemu_downtime_ms": done[DOWNTIME] if done else None,
        "qemu_total_ms": done[TOTAL] if total_seen else (
            bound[TOTAL] if bound and completed else None),
        "qemu_total_is_bound": not total_seen,
        "remaining_at_last_poll": None if total_seen else (bound[REMAINING] if bound else None),
        # The post-copy phase's stream, between the first and the last poll in it.
        "postcopy_stream_bytes_per_s": (
            round((pc[-1][XFER] - pc[0][XFER]) * 1000 / (pc[-1][TOTAL] - pc[0][TOTAL]))
            if len(pc) > 1 and pc[-1][TOTAL] > pc[0][TOTAL] else None),
        "transferred_bytes": last[XFER],
        "postcopy_requests": last[REQUESTS],
        "last_status": last[STATUS],
    }


def err_pct(pred, real):
    return None if pred is None or not real else round(100.0 * (pred - real) / real, 1)


def score(row):
    pred, real = row["predicted"], row["real"]
    for key in ("total_error_pct", "qemu_total_error_pct", "switch_error_ms", "downtime_error_ms",
                "bytes_error_pct", "total_error_pct_as_4k", "bytes_error_pct_as_4k"):
        row.pop(key, None)
    if not pred or not real["completed"]:
        return
    # Since libvirt's steps joined the model (2026-12-03) the predicted total and switch count
    # from the start of libvirt's job: the total against libvirt's time elapsed, QEMU's part
    # (less the steps) against QEMU's total-time, the switch (less the steps) against QEMU's
    # clock. Rows from before have no steps: their total is QEMU's.
    steps = row.get("libvirt_steps_ms")
    if steps is None:
        row["total_error_pct"] = err_pct(pred["total_time_ms"], real["qemu_total_ms"])
        steps = 0
    else:
        row["total_error_pct"] = err_pct(pred["total_time_ms"], real["libvirt_time_elapsed_ms"])
        row["qemu_total_error_pct"] = err_pct(pred["total_time_ms"] - steps, real["qemu_total_ms"])
    as_4k = row.get("predicted_as_4k")
    if as_4k:
        row["total_error_pct_as_4k"] = err_pct(as_4k["total_time_ms"],
                                               real["libvirt_time_elapsed_ms"])
        row["bytes_error_pct_as_4k"] = err_pct(as_4k["transferred_bytes"],
                                               real["transferred_bytes"])
    row["switch_error_ms"] = (None if real["switch_seen_ms"] is None
                              else round(pred["switchover_ms"] - steps - real["switch_seen_ms"]))
    # QEMU's downtime when a poll saw "completed", else libvirt's (QEMU's, fetched by libvirt at
    # completion).
    down = real["qemu_downtime_ms"]
    down = real["libvirt_downtime_ms"] if down is None else down
    row["downtime_error_ms"] = None if down is None else round(pred["downtime_ms"] - down)
    row["bytes_error_pct"] = err_pct(pred["transferred_bytes"], real["transferred_bytes"])


def run_case(case, seed, src, dst, dest_uri, args):
    import libvirt
    rate, speed, postcopy_speed = (list(map(int, case.split(":"))) + [0])[:3]
    name = "vmpbench-pc"
    bench.stop_guest(name, dst)
    backing = bench.HUGEPAGES_XML if args.hugepages else ""
    bench.start_guest(name, MEM_MIB, args.wss, rate, "random", seed, backing=backing)
    if backing:
        # start-guest.sh may have mounted hugetlbfs just now: the destination daemon is told of
        # it (setup-destination.sh restarts it then; the caller opens its connection again).
        bench.run([os.path.join(ROOT, "bench", "setup-destination.sh")])
    profile = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    try:
        dom = src.lookupByName(name)
        dom.migrateSetMaxSpeed(speed, 0)
        dom.migrateSetMaxDowntime(DOWNTIME_MS, 0)
        if postcopy_speed:  # the domain's post-copy cap, which the tool reads
            dom.migrateSetMaxSpeed(postcopy_speed, libvirt.VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY)
        time.sleep(2)
        link = bench.measure_link_bytes_per_s()
        rep = predict(name, speed, link, profile)
        pc = rep["advice"].get("post_copy")
        nolink = predict_offline(profile, speed, [])["advice"].get("post_copy")
        with open(profile) as f:
            measured = json.load(f)  # kept, to predict these runs again offline
        as_4k = None
        if measured["guest"].get("host_page_bytes"):
            # The model before huge pages: 4 KiB everywhere, the same measurement and link.
            flat = json.loads(json.dumps(measured))
            del flat["guest"]["host_page_bytes"]
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(flat, f)
            as_4k = predict_offline(f.name, speed, ["--link-speed", f"{int(link)}B/s"])
            os.unlink(f.name)
            as_4k = as_4k["advice"].get("post_copy")
        real = migrate(src, name, dest_uri, postcopy_speed)
    finally:
        bench.stop_guest(name, dst)
        os.unlink(profile)
    pred = {k: pc[k] for k in PC_KEYS} if pc else None
    row = {"case": case, "seed": seed, "link_mib_s": round(link / 1048576),
           "backing": "2m" if backing else "4k", "wss_mib": args.wss,
           "predicted_as_4k": {k: as_4k[k] for k in PC_KEYS} if as_4k else None,
           "precopy_converges": rep["prediction"]["converges"],
           "libvirt_steps_ms": rep["libvirt_steps"]["ms"],
           "predicted": pred,
           "predicted_without_link": {k: nolink[k] for k in PC_KEYS} if nolink else None,
           "real": real, "profile": measured}
    score(row)
    return row


def print_row(r):
    p, real = r["predicted"] or {}, r["real"]
    mib = lambda b: "-" if b is None else f"{b / 1048576:.1f}"  # noqa: E731
    print(f"{r['case']:<12} seed {r['seed']}: link {r['link_mib_s']} MiB/s, pre-copy alone "
          f"converges: {r['precopy_converges']}; real rc {real['rc']} {real['last_status']}"
          f" {real['virsh_error'][:120]}")
    print(f"  {'':10}{'total ms':>10}{'switch ms':>10}{'pause ms':>10}{'pc ms':>8}"
          f"{'MiB sent':>10}{'MiB after':>10}{'faults':>8}")
    print(f"  {'predicted':10}{p.get('total_time_ms', '-'):>10}{p.get('switchover_ms', '-'):>10}"
          f"{p.get('downtime_ms', '-'):>10}{p.get('postcopy_phase_ms', '-'):>8}"
          f"{mib(p.get('transferred_bytes')):>10}{mib(p.get('postcopy_bytes')):>10}")
    sw, tot = real["switch_seen_ms"], real["qemu_total_ms"]
    after = (None if real["transferred_bytes"] is None or real["bytes_at_switch"] is None
             else real["transferred_bytes"] - real["bytes_at_switch"])
    print(f"  {'real':10}{str(tot) + ('<=' if real['qemu_total_is_bound'] else ''):>10}"
          f"{str(sw):>10}{str(real['qemu_downtime_ms']):>10}"
          f"{'-' if tot is None or sw is None else tot - sw:>8}"
          f"{mib(real['transferred_bytes']):>10}{mib(after):>10}"
          f"{str(real['postcopy_requests']):>8}"
          f"   (switch after {real['switch_after_ms']} ms; libvirt downtime "
          f"{real['libvirt_downtime_ms']} ms, elapsed {real['libvirt_time_elapsed_ms']} ms)")
    print(f"  error: total {r.get('total_error_pct')}% (QEMU's part "
          f"{r.get('qemu_total_error_pct')}%), switch {r.get('switch_error_ms')} ms,"
          f" pause {r.get('downtime_error_ms')} ms, bytes {r.get('bytes_error_pct')}%")
    if r.get("predicted_as_4k"):
        q = r["predicted_as_4k"]
        print(f"  as 4 KiB pages (the model before): total {q.get('total_time_ms')} ms "
              f"({r.get('total_error_pct_as_4k')}%), switch {q.get('switchover_ms')} ms, "
              f"{mib(q.get('transferred_bytes'))} MiB sent ({r.get('bytes_error_pct_as_4k')}%), "
              f"{mib(q.get('postcopy_bytes'))} MiB after")


def summary(rows):
    def med(key):
        v = [abs(r[key]) for r in rows if r.get(key) is not None]
        return (round(statistics.median(v), 1), len(v)) if v else (None, 0)
    out = []
    for label, key, unit in (("total time", "total_error_pct", "%"),
                             ("switch to post-copy", "switch_error_ms", " ms"),
                             ("downtime", "downtime_error_ms", " ms"),
                             ("bytes sent", "bytes_error_pct", "%")):
        m, n = med(key)
        out.append(f"{label:<20} |error| median {m}{unit} over {n} completed runs")
    done = [r for r in rows if r["real"]["completed"] and r["predicted"]]
    gap = [r["real"]["switch_seen_ms"] - r["real"]["first_pass_sync_ms"] for r in done
           if r["real"]["switch_seen_ms"] and r["real"]["first_pass_sync_ms"]]
    if gap:
        out.append(f"{'sync to switch':<20} real median {statistics.median(gap)} ms (the first "
                   f"poll in post-copy after the first poll past the sync; model: one 100 ms "
                   f"window)")
    for label, group in (("uncapped", [r for r in done if r["case"].count(":") == 1]),
                         ("post-copy capped", [r for r in done if r["case"].count(":") == 2])):
        phase = [(r["real"]["qemu_total_ms"] - r["real"]["switch_seen_ms"],
                  r["predicted"]["postcopy_phase_ms"]) for r in group
                 if r["real"]["qemu_total_ms"] and r["real"]["switch_seen_ms"]]
        if phase:
            out.append(f"post-copy phase, {label}: real median "
                       f"{statistics.median(p[0] for p in phase)} ms (from the first poll in it),"
                       f" predicted median {statistics.median(p[1] for p in phase)} ms"
                       f" ({len(phase)} runs)")
        rate = [(r["real"]["postcopy_stream_bytes_per_s"], r["link_mib_s"]) for r in group
                if r["real"]["postcopy_stream_bytes_per_s"]]
        if rate:
            lo, hi = min(x[0] for x in rate), max(x[0] for x in rate)
            out.append(f"post-copy stream, {label}: median "
                       f"{statistics.median(x[0] for x in rate) / 1048576:.0f} MiB/s (range "
                       f"{lo / 1048576:.0f}-{hi / 1048576:.0f}); the link (one TCP stream) "
                       f"median {statistics.median(x[1] for x in rate)} MiB/s")
    faults = [r["real"]["postcopy_requests"] for r in done
              if r["real"]["postcopy_requests"] is not None]
    if faults:
        out.append(f"{'page requests':<20} {min(faults)}-{max(faults)} per run (postcopy-requests)")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="*", default=["100000:32"],
                    help="RATE:SPEED[:POSTCOPY_SPEED] (writes/s, MiB/s, MiB/s)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--note", default="")
    ap.add_argument("--summarize", nargs="+", metavar="FILE")
    ap.add_argument("--hugepages", action="store_true",
                    help="the guest on 2 MiB huge pages (start-guest.sh readies the host)")
    ap.add_argument("--wss", type=int, default=WSS_MIB, help="working set, MiB (64)")
    args = ap.parse_args()
    if args.summarize:
        rows = bench.load_results(args.summarize)
        for r in rows:
            r["real"].update(from_series(r["real"]["qemu_series"], r["real"]["completed"]))
            score(r)
            print_row(r)
        print()
        for line in summary(rows):
            print(line)
        return 0

    import libvirt
    libvirt.registerErrorHandler(lambda _c, _e: None, None)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    with open(UFFD_SYSCTL) as f:
        previous = f.read().strip()
    rows = []
    warmed_here = False
    try:
        warmed_here = host_memory.warm()
        with open(UFFD_SYSCTL, "w") as f:
            f.write("1")
        dest_uri = bench.run([os.path.join(ROOT, "bench", "setup-destination.sh")]).stdout.strip()
        src, dst = libvirt.open(bench.SOURCE_URI), libvirt.open(dest_uri)
        header = {"date": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
                  "host": platform.node(), "cpus": os.cpu_count(), "qemu": src.getVersion(),
                  "libvirt": src.getLibVersion(),
                  "tool": bench.run([TOOL, "--version"]).stdout.strip(),
                  "note": args.note, "loadavg_at_start": os.getloadavg()}
        out = open(args.out, "a") if args.out else None
        if out:
            out.write(json.dumps({"header": header}) + "\n")
        for rep in range(args.repeat):
            for case in args.cases:
                bench.log(f"postcopy: {case} (repeat {rep + 1}/{args.repeat})")
                row = run_case(case, args.first_seed + rep, src, dst, dest_uri, args)
                if args.hugepages:
                    dst = libvirt.open(dest_uri)  # the daemon may have been restarted
                rows.append(row)
                print_row(row)
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(UFFD_SYSCTL, "w") as f:
            f.write(previous)
        bench.log(f"postcopy: vm.unprivileged_userfaultfd restored to {previous}")
        if warmed_here:
            host_memory.restore()
    print()
    for line in summary(rows):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
