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
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import libvirt
import libvirt_qemu

import host_memory

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
    # Sweeps whose first pass lasts longer than the measurement's longest period (added
    # 2026-12-06, for held-out sequential-1g-32's shortness): what the curve does beyond its
    # reach, for a load that dirties in a straight line until it wraps.
    ("sweep-1g-256-32", 1024, 256, 4000, "sequential", 32, 500),
    ("sweep-1g-128-24", 1024, 128, 2000, "sequential", 24, 300),
]
CI_CASES = ["random-small", "hot-over-limit", "idle"]
# Loads whose rate follows a cycle (tests/guest/README.md), in seconds: bursty 2x the rate for
# 1 s then none for 1 s; phased 1.75x for 4 s then 0.25x for 4 s. An operator measures at a
# moment unrelated to the cycle; the benchmark measured a fixed time after the guest's arrival,
# and an arrival likely ends in a slow phase (pre-copy converges when the rate falls): 21 of 22
# stored QEMU 10.0 phased runs of 2026-12-05/06 were in the fast phase within the measurement's
# first second. A seeded wait of up to one cycle before measuring puts the measurement at a random
# point of it. An operator also migrates at a moment unrelated to the cycle, some time after
# measuring; the benchmark migrated right after, about 10.5 s after the measurement began, and with
# an 8 s cycle that tied the migration's phase to the measurement's: phased measured in its fast
# phase (read as a steady hot set) migrated mostly in the slow one, and the other way round
# (stored QEMU 10.0 runs of 2026-12-06/07: real 5.6-6.4 s where it was read as steady, in its
# fast phase, 6.3-7.7 s where it was read at the mean). A second seeded wait of up to one cycle,
# drawn apart from the first, before migrating (since 2026-12-07, afternoon; `migration_delay_s`
# in each row) unties them.
LOAD_CYCLE_S = {"bursty": 2.0, "phased": 8.0}
# Held out: cases no model change was fitted to (added 2026-12-03, after libvirt's steps were
# fitted to the cases above); only scored. two-vcpus (added 2026-12-06): a guest of two vCPUs,
# each writing half of the rate at once (tests/guest: VMP_GUEST_VCPUS), so that under TCG both
# host cores run guest code beside the migration thread.
HELDOUT_CASES = [
    ("big-4g", 4096, 512, 5000, "random", 128, 300),
    ("cap-16", 512, 64, 1500, "random", 16, 500),
    ("cap-24-hot", 1024, 256, 5000, "random", 24, 300),
    ("phased", 512, 128, 6000, "phased", 48, 300),
    ("sequential-1g-32", 1024, 192, 3000, "sequential", 32, 500),
    ("two-vcpus", 1024, 320, 6000, "random", 48, 300),
]
CASE_VCPUS = {"two-vcpus": 2}
# Fast links (issue 12 item 6): no cap that binds (1 TiB/s), so what limits a single-stream
# migration is the migration thread and the loopback path. Mostly zero (64 MiB touched) and
# mostly data (the working set touched once at boot, no load: every page is sent once).
UNCAPPED_MIB_S = 1 << 20
FAST_CASES = [
    ("fast-1g-zero", 1024, 64, 0, "random", UNCAPPED_MIB_S, 300),
    ("fast-1g-data", 1024, 704, 0, "random", UNCAPPED_MIB_S, 300),
    ("fast-2g-data", 2048, 1472, 0, "random", UNCAPPED_MIB_S, 300),
    # held out
    ("fast-2g-zero", 2048, 64, 0, "random", UNCAPPED_MIB_S, 300),
    ("fast-4g-data", 4096, 3008, 0, "random", UNCAPPED_MIB_S, 300),
    ("fast-2g-busy", 2048, 1024, 5000, "random", UNCAPPED_MIB_S, 300),
]
# QEMU 10.0 streamed at 104% of a 24 MiB/s cap (cap-24-hot, every run), 101-102% at 16-48 MiB/s,
# where QEMU 7.2 stays at or under the cap: the same guest and load as cap-24-hot at caps around
# it, to trace how the pre-copy stream's pace follows the cap (where_time_went's
# precopy_rate_of_cap). A study, not scored as accuracy.
CAP_STUDY_CASES = [(f"cap-study-{c}", 1024, 256, 5000, "random", c, 300) for c in (16, 20, 24, 28, 32)]
# two-vcpus with one vCPU writing the whole rate: whether what two-vCPU runs show is the second
# vCPU's or the guest's. A study, not scored as accuracy.
VCPU_STUDY_CASES = [("two-vcpus-as-one", 1024, 320, 6000, "random", 48, 300)]
# Another architecture (issue 15): an aarch64 `virt` guest under TCG (tests/guest, VMP_GUEST_ARCH).
# Held out: nothing in the model was fitted to them.
AARCH64_CASES = [
    ("arm-idle", 512, 64, 0, "random", 64, 300),
    ("arm-random-small", 512, 64, 2000, "random", 64, 300),
    ("arm-hot-over-limit", 512, 64, 100000, "random", 64, 300),
    ("arm-sequential-1g-32", 1024, 192, 3000, "sequential", 32, 500),
]
CASE_ARCH = {c[0]: "aarch64" for c in AARCH64_CASES}
# Guests on 2 MiB huge pages (issue 15; tests/guest, VMP_GUEST_MEMORY_BACKING): QEMU looks at
# its estimate every 64 huge pages holding dirty pages or at the end of a pass. Held out: the
# model of it follows bench/hugepages.py's traces, and these cases were not used to change it.
# Rows keep the prediction with 4 KiB pages everywhere (the model before) beside it.
HUGEPAGE_CASES = [
    ("huge-random-small", 512, 64, 2000, "random", 32, 300),
    ("huge-random-256", 512, 256, 3000, "random", 32, 300),
    ("huge-sequential", 512, 64, 2000, "sequential", 32, 300),
    ("huge-hot-over-limit", 512, 64, 20000, "random", 32, 300),
]
HUGEPAGES_XML = "<memoryBacking><hugepages/></memoryBacking>"
CASE_BACKING = {c[0]: HUGEPAGES_XML for c in HUGEPAGE_CASES}
HELDOUT_NAMES = ({c[0] for c in HELDOUT_CASES} | {"fast-2g-zero", "fast-4g-data", "fast-2g-busy"} |
                 set(CASE_ARCH) | set(CASE_BACKING))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def start_guest(name, mem, wss, rate, pattern, seed, arch="x86_64", backing="", vcpus=1):
    env = dict(os.environ, VMP_GUEST_PERSISTENT="1", LIBVIRT_URI=SOURCE_URI, VMP_GUEST_ARCH=arch,
               VMP_GUEST_MEMORY_BACKING=backing, VMP_GUEST_VCPUS=str(vcpus))
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


def offline(profile, bandwidth_mib, downtime_ms, deadline_s, extra, whole=False):
    """The tool's prediction for a saved profile (the whole JSON report with whole=True)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(profile, f)
        path = f.name
    try:
        r = run([TOOL, "--profile", path, "--json", "--bandwidth", f"{bandwidth_mib}MiB/s",
                 "--downtime", f"{downtime_ms}ms", "--deadline", f"{deadline_s}s"] + extra,
                check=False)
        if r.returncode not in (0, 3, 4, 5):
            raise RuntimeError(f"tool failed offline ({r.returncode}): {r.stderr.strip()}")
        report = json.loads(r.stdout)
        return report if whole else report["prediction"]
    finally:
        os.unlink(path)


def rfc_baseline(profile, bandwidth_mib, downtime_ms, deadline_s):
    """The 2023 RFC predictor's model: whole-second points, no zero pages, linear curve."""
    p = json.loads(json.dumps(profile))
    # The periods asked in whole seconds; QEMU >= 8.2 reports the period it measured over, a few
    # milliseconds longer.
    p["dirty_curve"] = [c for c in p["dirty_curve"]
                        if c["period_ms"] >= 950
                        and abs(c["period_ms"] - 1000 * round(c["period_ms"] / 1000)) <= 50]
    p["zero_pages"] = {"count": 0, "method": "none", "sampled_pages": 0}
    return offline(p, bandwidth_mib, downtime_ms, deadline_s, ["--curve", "piecewise-linear"])


def cpu_jiffies():
    """All CPUs' busy time so far (user, nice, system, irq, softirq, steal) and, of it, the steal
    time (what the machine's own host gave to others), in clock ticks."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], v[7]


class QemuCpu:
    """CPU time of the QEMU processes (both ends of the migration, and any other guest), each
    process's last reading kept: the source QEMU exits when the migration completes."""

    def __init__(self):
        self.last = {}
        self.first = {}
        self.rescan()

    def rescan(self):
        for pid in os.listdir("/proc"):
            if pid.isdigit() and pid not in self.last:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().startswith("qemu-system"):
                            self.last[pid] = None
                except OSError:
                    pass
        self.read()

    def read(self):
        for pid in list(self.last):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            self.last[pid] = int(fields[11]) + int(fields[12])  # utime, stime
            self.first.setdefault(pid, self.last[pid])

    def used(self):
        return sum(v - self.first[p] for p, v in self.last.items() if v is not None)


SOURCE_LOG = "/var/lib/libvirt/vmp-guest/logs/{}.console.log"
DEST_LOG = "/home/vmpdest/bench/{}.console.log"


def destination_xml_file(xml, name, log_from, log_to):
    """The domain's migratable XML with its console log moved to a path the receiving daemon's
    QEMU can write, in a file virsh migrate --xml reads (the caller removes it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False, dir="/tmp") as f:
        f.write(xml.replace(log_from.format(name), log_to.format(name)))
        xml_path = f.name
    os.chmod(xml_path, 0o644)
    return xml_path


def virsh_migrate(from_uri, to_uri, name, log_from, log_to):
    """One libvirt migration as an operator runs it (virsh migrate --live); returns virsh's
    result."""
    xml = run(["virsh", "-c", from_uri, "dumpxml", "--migratable", name]).stdout
    xml_path = destination_xml_file(xml, name, log_from, log_to)
    try:
        return run(["virsh", "-c", from_uri, "migrate", "--live", name, to_uri,
                    "--migrateuri", "tcp://127.0.0.1", "--xml", xml_path])
    finally:
        os.unlink(xml_path)


def arrive_by_migration(name, dest_uri):
    """Brings the guest to the source host as most guests of a cluster came to theirs: migrated
    there (to the destination daemon and back, uncapped). The source's libvirtd then keeps that
    incoming job, from which the tool takes the host's own libvirt steps (seen here). The way in
    is destination -> source, the scored migration source -> destination: two daemons of
    different kinds here (system and session), so the steps seen are not exactly those the scored
    migration takes; each row keeps both."""
    t0 = time.monotonic()
    virsh_migrate(SOURCE_URI, dest_uri, name, SOURCE_LOG, DEST_LOG)
    virsh_migrate(dest_uri, SOURCE_URI, name, DEST_LOG, SOURCE_LOG)
    return round(time.monotonic() - t0, 2)


# query-migrate's states of a migration under way on its source.
SENDING_STATES = ("setup", "active", "device", "pre-switchover", "postcopy-active",
                  "wait-unplug", "cancelling")


def migrate(src_conn, name, dest_uri, migration_deadline_s, sending=None):
    """Migrates for real; returns what QEMU and libvirt say about it. `sending`, a
    threading.Event, is set once QEMU's migration has started (libvirt's steps before it done),
    or the migration has ended."""
    dom = src_conn.lookupByName(name)
    xml_path = destination_xml_file(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE), name,
                                    SOURCE_LOG, DEST_LOG)
    cmd = ["virsh", "-c", SOURCE_URI, "migrate", "--live", name, dest_uri,
           "--migrateuri", "tcp://127.0.0.1", "--xml", xml_path]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = []
    aborted = False
    (busy0, steal0), qemu_cpu = cpu_jiffies(), QemuCpu()
    t0 = time.monotonic()
    last_rescan = t0
    while proc.poll() is None:
        try:
            reply = json.loads(libvirt_qemu.qemuMonitorCommand(
                dom, '{"execute":"query-migrate"}', 0))["return"]
            samples.append((time.monotonic() - t0, reply))
            # Not "completed": a guest that came here by migration reports its incoming one so
            # until it migrates again.
            if sending is not None and reply.get("status") in SENDING_STATES:
                sending.set()
        except libvirt.libvirtError:
            pass  # the source QEMU is gone: the migration ended
        if not aborted and time.monotonic() - t0 > migration_deadline_s:
            run(["virsh", "-c", SOURCE_URI, "domjobabort", name], check=False)
            aborted = True
        qemu_cpu.read()
        if time.monotonic() - last_rescan > 0.5:  # the destination QEMU starts meanwhile
            qemu_cpu.rescan()
            last_rescan = time.monotonic()
        time.sleep(0.02)
    out, err = proc.communicate()
    if sending is not None:
        sending.set()
    os.unlink(xml_path)
    wall_s = time.monotonic() - t0
    # Whether the machine was quiet: CPU that no QEMU used while the migration ran, as a share
    # of all CPUs (to the last poll of each QEMU). Some % is this script, virsh and the daemons.
    hz = os.sysconf("SC_CLK_TCK")
    busy1, steal1 = cpu_jiffies()
    other_cpu = max(0, (busy1 - busy0) - qemu_cpu.used()) / hz
    other_cpu_share = other_cpu / (wall_s * os.cpu_count())
    # Of which stolen: this machine is itself a guest, and its host's other tenants take CPU the
    # migration's processes (QEMU, libvirtd) then wait for.
    steal_share = (steal1 - steal0) / hz / (wall_s * os.cpu_count())
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
    # What QEMU itself reported as the migration ran: where the time went (setup, each sync,
    # the pace of the stream, the completion). Kept compact: one row per poll.
    series = []
    for t_s, s in samples:
        ram = s.get("ram", {})
        series.append([round(t_s * 1000), s.get("status"), s.get("total-time"),
                       ram.get("transferred"), ram.get("remaining"), ram.get("dirty-sync-count"),
                       ram.get("mbps"), s.get("setup-time"), s.get("expected-downtime"),
                       ram.get("dirty-pages-rate"), ram.get("normal"), ram.get("duplicate")])
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
        "other_cpu_share": round(other_cpu_share, 3),
        "steal_share": round(steal_share, 3),
        "loadavg_1min": os.getloadavg()[0],
        "qemu_series_columns": ["poll_ms", "status", "total_time_ms", "ram_transferred_bytes",
                                "ram_remaining_bytes", "dirty_sync_count", "mbps",
                                "setup_time_ms", "expected_downtime_ms",
                                "dirty_pages_rate_pages_per_s", "normal_pages",
                                "duplicate_pages"],
        "qemu_series": series,
    }


def in_interval(interval, converges, real):
    """Whether the real migration fell inside the predicted interval: libvirt's time elapsed
    (what the tool's total time predicts) between the ends (an end that does not converge is
    unbounded), or, when it did not converge, the unfavourable end not converging either."""
    if not real["completed"]:
        return bool(converges) and not converges["high"]
    t = real["libvirt_time_elapsed_ms"]
    if t is None or interval.get("low") is None:
        return False
    return interval["low"] <= t and (interval["high"] is None or t <= interval["high"])


def where_time_went(real, cap_bytes_per_s):
    """From QEMU's own figures polled during the run: the setup, the pre-copy stream's pace
    against the cap, and the completion (the guest paused: what was left and how fast it went)."""
    rows = [r for r in real.get("qemu_series", []) if r[1] in ("active", "device", "completed")]
    active = [r for r in rows if r[1] == "active" and r[3] is not None]
    if len(active) < 2:
        return None
    first, last = active[0], active[-1]
    span_ms = last[2] - first[2]
    precopy_rate = (last[3] - first[3]) / span_ms * 1000 if span_ms > 0 else None
    out = {
        "setup_ms": real.get("setup_time_ms"),
        "precopy_rate_of_cap": round(precopy_rate / cap_bytes_per_s, 3) if precopy_rate else None,
        "syncs_seen": last[5],
        "last_active_total_time_ms": last[2],
        "last_active_remaining_bytes": last[4],
    }
    if real["completed"] and real["memory_processed_bytes"] and real["qemu_total_time_ms"]:
        # What went after the last poll that saw the guest running: the final window(s) and the
        # stop-and-copy; over the time left to the end, a lower bound on the completion's pace.
        left_ms = real["qemu_total_time_ms"] - last[2]
        left_bytes = real["memory_processed_bytes"] - last[3]
        out["after_last_poll_ms"] = left_ms
        out["after_last_poll_bytes"] = left_bytes
    return out


def pct_error(predicted, real):
    if predicted is None or real in (None, 0):
        return None
    return 100.0 * (predicted - real) / real


def scored(pred, upper, real):
    """The tool's prediction (with --link-speed; `upper` without) against a real migration: the
    fields of a row that a new build changes, for a run and for --rescore alike."""
    interval = pred.get("total_time_interval_ms") or {"low": None, "high": None}
    done = real["completed"]
    return {
        "predicted": {k: pred.get(k) for k in ("converges", "total_time_ms",
                                               "qemu_total_time_ms", "downtime_ms",
                                               "iterations", "transferred_bytes")},
        "predicted_interval_ms": interval,
        "predicted_converges_interval": pred.get("converges_interval"),
        "in_interval": in_interval(interval, pred.get("converges_interval"), real),
        "verdict_right": pred["converges"] == done,
        # The tool's total time is libvirt's job (what virsh migrate waits for); QEMU's own
        # total-time is predicted beside it.
        "time_error_pct": (pct_error(pred["total_time_ms"], real["libvirt_time_elapsed_ms"])
                           if done else None),
        "qemu_time_error_pct": (pct_error(pred.get("qemu_total_time_ms"),
                                          real["qemu_total_time_ms"]) if done else None),
        "without_link_time_error_pct": (pct_error(upper["total_time_ms"],
                                                  real["libvirt_time_elapsed_ms"])
                                        if done else None),
    }


def phase_delay(name, seed, pattern, stream=""):
    """The wait before measuring a cyclic load (LOAD_CYCLE_S): uniform over one cycle, the same
    for a case and seed in every run; 0 for the others. Another `stream` draws another wait (the
    one before migrating: "migrate")."""
    cycle = LOAD_CYCLE_S.get(pattern, 0.0)
    key = f"{name}/{seed}" + (f"/{stream}" if stream else "")
    return random.Random(key).uniform(0, cycle) if cycle else 0.0


def run_case(case, seed, args, src_conn, dest_conn, dest_uri):
    name, mem, wss, rate, pattern, speed, downtime = case
    dom_name = f"vmpbench-{name}"
    stop_guest(dom_name, dest_conn)
    arch = CASE_ARCH.get(name, "x86_64")
    backing = CASE_BACKING.get(name, "")
    vcpus = CASE_VCPUS.get(name, 1)
    start_guest(dom_name, mem, wss, rate, pattern, seed, arch, backing, vcpus)
    if backing:
        # start-guest.sh may have mounted hugetlbfs just now: the destination daemon is told of
        # it (setup-destination.sh restarts it then; the caller opens its connection again).
        run([os.path.join(ROOT, "bench", "setup-destination.sh")])
    try:
        # Before the settings: they belong to the QEMU process, and the guest comes back in a
        # new one.
        arrival_s = arrive_by_migration(dom_name, dest_uri) if args.arrived else None
        dom = src_conn.lookupByName(dom_name)
        dom.migrateSetMaxSpeed(speed, 0)
        dom.migrateSetMaxDowntime(downtime, 0)
        time.sleep(args.settle)  # let the load reach its steady state
        phase_delay_s = phase_delay(name, seed, pattern)
        time.sleep(phase_delay_s)
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            profile_path = os.path.join(tmp, "profile.json")
            link = measure_link_bytes_per_s()
            report, measure_s = predict(dom_name, args.migration_deadline, profile_path, link)
            with open(profile_path) as f:
                profile = json.load(f)
        migration_delay_s = phase_delay(name, seed, pattern, "migrate")
        time.sleep(migration_delay_s)
        real = migrate(src_conn, dom_name, dest_uri, args.migration_deadline)
    finally:
        stop_guest(dom_name, dest_conn)

    pred = report["prediction"]
    ram = profile["guest"]["ram_bytes"]
    bw = speed * 1048576.0
    naive_ms = 1000.0 * ram / bw
    rfc = rfc_baseline(profile, speed, downtime, args.migration_deadline)
    upper = offline(profile, speed, downtime, args.migration_deadline, [])  # no --link-speed
    as_4k = None
    if profile["guest"].get("host_page_bytes"):
        flat = json.loads(json.dumps(profile))
        del flat["guest"]["host_page_bytes"]
        as_4k = offline(flat, speed, downtime, args.migration_deadline, [])
    real_ms = real["qemu_total_time_ms"]
    row = {
        "case": name, "set": "held-out" if name in HELDOUT_NAMES else "tuning", "seed": seed,
        # The guest came to the source by migration (--arrived): libvirt's steps as seen here.
        "arrived_by_migration": bool(args.arrived), "arrival_s": arrival_s,
        "arch": arch, "vcpus": vcpus, "guest_mib": mem, "wss_mib": wss, "rate": rate,
        "pattern": pattern, "speed_mib_s": speed, "downtime_limit_ms": downtime,
        "measure_s": round(measure_s, 2),
        "phase_delay_s": round(phase_delay_s, 3),
        "migration_delay_s": round(migration_delay_s, 3),
        "link_mib_s": round(link / 1048576, 1),
        "predicted_without_link": {k: upper.get(k) for k in ("converges", "total_time_ms",
                                                             "qemu_total_time_ms", "downtime_ms")},
        "backing": "2m" if backing else "4k",
        "host_page_bytes": profile["guest"].get("host_page_bytes"),
        "predicted_without_link_as_4k": as_4k and {
            k: as_4k.get(k) for k in ("converges", "total_time_ms", "qemu_total_time_ms",
                                      "downtime_ms")},
        **scored(pred, upper, real),
        "libvirt_steps": report.get("libvirt_steps"),
        "where_time_went": where_time_went(real, speed * 1048576.0),
        "zero_pages": profile["zero_pages"], "curve_points": profile["dirty_curve"],
        # The busiest vCPU's share while measured: what may tell idle guests' libvirt steps
        # (shorter) from loaded guests' (issue 12 item 1).
        "vcpu_busy_fraction": profile["guest"].get("vcpu_busy_fraction"),
        "curve_kind": report["curve"]["kind"],
        # as-measured, mean-rate (the rate changed) or fitted (the readings pooled)
        "curve_reading": report["curve"].get("reading"),
        "rfc": {k: rfc.get(k) for k in ("converges", "total_time_ms", "qemu_total_time_ms",
                                        "transferred_bytes")},
        "naive_ms": naive_ms,
        "real": real,
        # What the operator acts on: the advice's verdict ("migrate" only when it converges
        # also at the unfavourable end of the interval).
        "advice_verdict": report["advice"]["verdict"],
        "rfc_verdict_right": rfc["converges"] == real["completed"],
        # The baselines model QEMU's migration only.
        "rfc_time_error_pct": (pct_error(rfc.get("qemu_total_time_ms", rfc["total_time_ms"]), real_ms)
                               if real["completed"] else None),
        "naive_time_error_pct": pct_error(naive_ms, real_ms) if real["completed"] else None,
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
    print(f"  {'real':10}{str(real['completed']):>10}{fmt(real['libvirt_time_elapsed_ms'], width=10)}"
          f"{fmt(real['libvirt_downtime_ms'], width=10)}"
          f"{(sent or 0) / 1048576:10.1f}{fmt(iters - 2 if iters else None, width=6)}"
          f"   (time: libvirt's elapsed; QEMU's total-time {real['qemu_total_time_ms']} ms,"
          f" predicted {p.get('qemu_total_time_ms')} ms; virsh returned after {real['wall_s']} s)")
    print(f"  {'rfc-2023':10}{str(r['rfc']['converges']):>10}"
          f"{fmt(r['rfc']['total_time_ms'], width=10)}{'':>10}"
          f"{r['rfc']['transferred_bytes'] / 1048576:10.1f}")
    iv = r.get("predicted_interval_ms") or {}
    w = r.get("where_time_went") or {}
    print(f"  interval  {fmt(iv.get('low'), width=8)} .. {fmt(iv.get('high'), width=8)} ms:"
          f" real {'inside' if r.get('in_interval') else 'OUTSIDE'};"
          f" QEMU: setup {w.get('setup_ms')} ms, pre-copy stream at"
          f" {fmt(100 * w['precopy_rate_of_cap'] if w.get('precopy_rate_of_cap') else None, '%', 6)}"
          f" of the cap, {w.get('after_last_poll_bytes', 0) / 1048576:.1f} MiB in the last"
          f" {w.get('after_last_poll_ms')} ms; other CPU"
          f" {100 * real.get('other_cpu_share', 0):.0f}% of the machine"
          f" ({100 * real.get('steal_share', 0):.0f}% stolen by its host)")
    print(f"  error: ours {fmt(r['time_error_pct'], '%')} against libvirt's time elapsed,"
          f" {fmt(r.get('qemu_time_error_pct'), '%')} against QEMU's total-time"
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
        errs = [abs(r[key]) for r in rows if r.get(key) is not None]
        return (statistics.median(errs) if errs else None, percentile(errs, 0.9), len(errs))

    def signed_mean(key):
        errs = [r[key] for r in rows if r.get(key) is not None]
        return statistics.mean(errs) if errs else None

    # The tool against libvirt's time elapsed (what virsh migrate waits for), with --link-speed
    # and without; its QEMU figure and the baselines against QEMU's own total-time.
    lines = []
    for label, key, verdict in (("virt-migrate-predict", "time_error_pct", "verdict_right"),
                                ("  without --link-speed", "without_link_time_error_pct", None),
                                ("  QEMU's total-time", "qemu_time_error_pct", None),
                                ("2023 RFC model", "rfc_time_error_pct", "rfc_verdict_right"),
                                ("RAM / bandwidth", "naive_time_error_pct", None)):
        med, p90, n = stats(key)
        if n == 0:
            continue
        right = sum(1 for r in rows if r[verdict]) if verdict else None
        # Runs saved before 2026-12-03 scored the tool against QEMU's total-time.
        libvirt_scored = any("qemu_time_error_pct" in r for r in rows)
        against = ("libvirt" if libvirt_scored and key in ("time_error_pct",
                                                           "without_link_time_error_pct")
                   else "QEMU")
        lines.append(f"{label:<22} {against:>7} time |error| median {fmt(med, '%')},"
                     f" p90 {fmt(p90, '%')}, mean signed {fmt(signed_mean(key), '%')}"
                     f" over {n} converged runs"
                     + (f"; verdicts right {right}/{len(rows)}" if verdict else ""))
    advised = [r for r in rows if "advice_verdict" in r]
    if advised:
        wrong = sum(1 for r in advised if r["advice_verdict"] == "migrate" and not r["real"]["completed"])
        lines.append(f"{'verdict as advised':<22} 'migrate' {sum(1 for r in advised if r['advice_verdict'] == 'migrate')}"
                     f"/{len(advised)}, of which wrong (did not converge): {wrong}")
    dt = [abs(r["predicted"]["downtime_ms"] - r["real"]["libvirt_downtime_ms"]) for r in rows
          if r["real"]["completed"] and r["predicted"]["downtime_ms"] is not None
          and r["real"]["libvirt_downtime_ms"] is not None]
    if dt:
        lines.append(f"{'downtime (ours)':<22} |error| median {statistics.median(dt):.0f} ms, "
                     f"p90 {percentile(dt, 0.9):.0f} ms")
    bytes_med, bytes_p90, _ = stats("bytes_error_pct")
    lines.append(f"{'bytes sent (ours)':<22} |error| median {fmt(bytes_med, '%')}, "
                 f"p90 {fmt(bytes_p90, '%')}")
    inside = [r for r in rows if r.get("in_interval") is not None]
    lines.append(f"{'interval (ours)':<22} real time inside the predicted interval in "
                 f"{sum(1 for r in inside if r['in_interval'])}/{len(inside)} runs")
    # The spread over repeats: per case, the range of the error across its runs.
    spreads = {c: max(v) - min(v) for c, v in errors_by_case(rows).items() if len(v) > 1}
    if spreads:
        lines.append(f"{'spread over repeats':<22} error range per case: median "
                     f"{statistics.median(spreads.values()):.1f} points, max "
                     f"{max(spreads.values()):.1f} ({max(spreads, key=spreads.get)})")
    other = [r["real"].get("other_cpu_share") for r in rows
             if r["real"].get("other_cpu_share") is not None]
    if other:
        steal = [r["real"]["steal_share"] for r in rows if "steal_share" in r["real"]]
        lines.append(f"{'machine':<22} CPU used by others than the QEMUs during migrations: "
                     f"median {100 * statistics.median(other):.0f}%, max {100 * max(other):.0f}%"
                     + (f" (stolen by the machine's host: median "
                        f"{100 * statistics.median(steal):.0f}%, max {100 * max(steal):.0f}%)"
                        if steal else ""))
    # libvirt's steps: the figure the prediction used (seen on this host, or the default) against
    # the scored migration's own (libvirt's time elapsed less QEMU's total-time).
    used = [r for r in rows if r.get("libvirt_steps") and r["real"]["completed"]
            and r["real"]["libvirt_time_elapsed_ms"] and r["real"]["qemu_total_time_ms"]]
    if used:
        seen = sum(1 for r in used if r["libvirt_steps"].get("seen_here"))
        took = [r["real"]["libvirt_time_elapsed_ms"] - r["real"]["qemu_total_time_ms"] for r in used]
        lines.append(f"{'libvirt steps':<22} predicted with median "
                     f"{statistics.median(r['libvirt_steps']['ms'] for r in used):.0f} ms "
                     f"(seen on this host in {seen}/{len(used)} runs); the migrations' own: "
                     f"median {statistics.median(took):.0f} ms, {min(took)}-{max(took)} ms")
    measure = [r["measure_s"] for r in rows]
    lines.append(f"{'measuring':<22} median {statistics.median(measure):.1f} s, "
                 f"max {max(measure):.1f} s")
    return lines


def load_ran(row):
    """Whether the guest's load was writing when the tool measured it: a case with a load whose
    every measured period dirtied nothing is a guest that stopped working (seen once on QEMU 7.2,
    after an --arrived round trip under TCG: its vCPU busy all the time, no page written), which
    scores the guest, not the tool."""
    points = row.get("curve_points") or []
    return not row.get("rate") or not points or any(p["dirty_bytes"] > 0 for p in points)


def summaries(rows):
    """The summary of each set apart: the cases the model was tuned on, and the held-out ones
    (rows saved before the split belong to the tuning set). Runs whose guest's load did not run
    are left out, and named."""
    lines = []
    for r in rows:
        if not load_ran(r):
            lines.append(f"left out: {r['case']} seed {r['seed']}: the guest's load "
                         f"({r['rate']} pages/s) dirtied nothing while measured (vCPU busy "
                         f"{100 * (r.get('vcpu_busy_fraction') or 0):.0f}%): the guest, not the tool")
    rows = [r for r in rows if load_ran(r)]
    sets = {}
    for r in rows:
        arrived = " (arrived by migration)" if r.get("arrived_by_migration") else ""
        sets.setdefault(r.get("set", "tuning") + arrived, []).append(r)
    if len(sets) == 1:
        return lines + summary(rows)
    for name in ("tuning", "held-out", "tuning (arrived by migration)",
                 "held-out (arrived by migration)"):
        if name in sets:
            lines.append(f"{name} set ({len(sets[name])} runs):")
            lines += ["  " + line for line in summary(sets[name])]
    return lines


def stack_name(qemu, libvirt_version):
    """'QEMU 10.0.2 / libvirt 11.3.0' from libvirt's version numbers."""
    def text(v):
        return f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"
    return f"QEMU {text(qemu)} / libvirt {text(libvirt_version)}"


def load_results(paths):
    """The runs saved in results files (JSON lines), without their header lines."""
    rows = []
    for path in paths:
        with open(path) as f:
            rows += [r for r in map(json.loads, f) if "header" not in r]
    return rows


def saved_profile(row, qemu):
    """The dirty profile the tool saved when it measured a stored run, rebuilt from the row:
    what predicting it again offline needs. `qemu`: the results header's version number."""
    steps = row.get("libvirt_steps") or {}
    guest = {"ram_bytes": row["guest_mib"] * 1048576, "page_size_bytes": 4096,
             "arch": row.get("arch", "x86_64"),
             "memory_preallocated": bool(steps.get("memory_preallocated"))}
    for key in ("vcpu_busy_fraction", "host_page_bytes"):
        if row.get(key) is not None:
            guest[key] = row[key]
    if steps.get("seen_here"):
        guest["libvirt_steps_seen_ms"] = steps["ms"]
    return {"format": "virt-migrate-predict/dirty-profile", "version": 1,
            "taken_at": "2026-12-05T00:00:00Z", "domain": f"vmpbench-{row['case']}",
            "qemu_version": f"{qemu // 1000000}.{qemu // 1000 % 1000}.{qemu % 1000}",
            "measurement": {"mode": "page-sampling", "interface": "qmp",
                            "sample_pages_per_gib": 16384},
            "guest": guest, "dirty_curve": row["curve_points"], "zero_pages": row["zero_pages"]}


def rescore(paths):
    """Stored runs predicted again by this build of the tool, offline from the profile each run
    measured, with the settings and link it ran with: what a change to the model does to the
    same real migrations. The real side is the stored one; nothing is migrated."""
    rows = []
    for path in paths:
        qemu, left_out = None, 0
        with open(path) as f:
            for r in (json.loads(line) for line in f if line.strip()):
                if "header" in r:
                    qemu = r["header"].get("qemu")
                    continue
                if qemu is None or "guest_mib" not in r or "curve_points" not in r:
                    left_out += 1
                    continue
                profile = saved_profile(r, qemu)
                report = offline(profile, r["speed_mib_s"], r["downtime_limit_ms"], 60,
                                 ["--link-speed", f"{int(r['link_mib_s'] * 1048576)}B/s"],
                                 whole=True)
                pred = report["prediction"]
                upper = offline(profile, r["speed_mib_s"], r["downtime_limit_ms"], 60, [])
                new = scored(pred, upper, r["real"])
                r = dict(r, stack=stack_name(qemu, 0).split(" / ")[0],
                         before={k: r.get(k) for k in new}, **new,
                         curve_reading=report["curve"].get("reading"),
                         rate_change=(report["curve"].get("rate_change") or {}).get("kind"))
                rows.append(r)
        if left_out:
            log(f"bench: {path}: {left_out} rows are not bench.py runs (another script's): left out")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="all",
                    help="all (the tuning set), heldout, everything, ci, fast (no binding cap), "
                         "aarch64 (an aarch64 guest), cap-study (the stream's pace at caps of "
                         "16-32 MiB/s), or names "
                         "separated by commas")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--migration-deadline", type=int, default=60,
                    help="seconds before a migration is aborted as not converging")
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--out", help="JSON lines file for the results")
    ap.add_argument("--first-seed", type=int, default=1,
                    help="the load's seed in the first repeat (then +1 per repeat), so that "
                         "runs split over several invocations differ")
    ap.add_argument("--summarize", nargs="+", metavar="FILE",
                    help="print the summary of saved results (JSON lines) and migrate nothing")
    ap.add_argument("--rescore", nargs="+", metavar="FILE",
                    help="predict saved runs again with this build, offline from the profiles "
                         "they measured, and print each run's error before and after and the "
                         "summaries; migrates nothing")
    ap.add_argument("--arrived", action="store_true",
                    help="migrate each guest to the destination and back before measuring it, "
                         "so that the tool takes libvirt's steps from this host's record of its "
                         "arrival, as for guests that came to their host by migration")
    ap.add_argument("--note", default="",
                    help="what else ran on the machine, recorded in the results' header")
    ap.add_argument("--max-error", type=float,
                    help="fail when a converged case's total-time error (the mean of its runs, "
                         "with --repeat) exceeds this many %%; a wrong verdict fails in any run")
    args = ap.parse_args()
    if args.rescore:
        rows = rescore(args.rescore)
        for r in rows:
            b = r["before"]
            print(f"{r['stack']:<10} {r['case']:<24} seed {r['seed']}: libvirt time "
                  f"{fmt(b['time_error_pct'], '%')} -> {fmt(r['time_error_pct'], '%')}, QEMU's "
                  f"{fmt(b['qemu_time_error_pct'], '%')} -> {fmt(r['qemu_time_error_pct'], '%')}"
                  f", verdict {'right' if b['verdict_right'] else 'WRONG'} -> "
                  f"{'right' if r['verdict_right'] else 'WRONG'}, reading {r['curve_reading']}"
                  + (f" ({r['rate_change']})" if r.get("rate_change") else ""))
        for line in summaries(rows):
            print(line)
        if args.out:
            with open(args.out, "a") as out:
                for r in rows:
                    out.write(json.dumps(r) + "\n")
        return 0
    if args.summarize:
        for line in summaries(load_results(args.summarize)):
            print(line)
        return 0

    names = ([c[0] for c in CASES] if args.cases == "all" else
             CI_CASES if args.cases == "ci" else
             [c[0] for c in HELDOUT_CASES] if args.cases == "heldout" else
             [c[0] for c in CASES + HELDOUT_CASES] if args.cases == "everything" else
             [c[0] for c in FAST_CASES] if args.cases == "fast" else
             [c[0] for c in AARCH64_CASES] if args.cases == "aarch64" else
             [c[0] for c in HUGEPAGE_CASES] if args.cases == "hugepages" else
             [c[0] for c in CAP_STUDY_CASES] if args.cases == "cap-study" else
             args.cases.split(","))
    cases = [c for c in CASES + HELDOUT_CASES + FAST_CASES + AARCH64_CASES + HUGEPAGE_CASES +
             CAP_STUDY_CASES + VCPU_STUDY_CASES if c[0] in names]
    unknown = set(names) - {c[0] for c in cases}
    if unknown:
        sys.exit(f"bench.py: unknown cases: {', '.join(sorted(unknown))}")
    # SIGTERM and SIGHUP end the run as SIGINT does, so that the host's settings are restored.
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.default_int_handler)
    with host_memory.warmed():
        return migrate_cases(args, cases)


def migrate_cases(args, cases):

    # python-libvirt prints every error it raises; the ones that matter are raised and handled.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    dest_uri = run([os.path.join(ROOT, "bench", "setup-destination.sh")]).stdout.strip()
    src_conn = libvirt.open(SOURCE_URI)
    dest_conn = libvirt.open(dest_uri)
    header = {"date": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
              "host": platform.node(), "cpus": os.cpu_count(),
              "qemu": src_conn.getVersion(), "libvirt": src_conn.getLibVersion(),
              "tool": run([TOOL, "--version"]).stdout.strip(), "note": args.note,
              "loadavg_at_start": os.getloadavg(),
              "host_memory": "free page reporting off, memory touched once (host_memory.py)"}
    print(json.dumps(header))
    # Every figure names the stack it was measured on.
    stack = stack_name(header["qemu"], header["libvirt"])
    rows = []
    out = open(args.out, "a") if args.out else None
    if out:
        out.write(json.dumps({"header": header}) + "\n")
    for rep in range(args.repeat):
        for case in cases:
            log(f"bench: {case[0]} (repeat {rep + 1}/{args.repeat})")
            row = run_case(case, args.first_seed + rep, args, src_conn, dest_conn, dest_uri)
            if case[0] in CASE_BACKING:
                dest_conn = libvirt.open(dest_uri)  # the daemon may have been restarted
            rows.append(row)
            print_row(row)
            if out:
                out.write(json.dumps(row) + "\n")
                out.flush()
    print()
    for line in summaries(rows):
        print(f"[{stack}] {line}")
    failed = {r["case"] for r in rows if not r["verdict_right"]}
    if args.max_error is not None:
        # Each case's error over its runs (their mean): one migration's libvirt steps can take
        # twice another's a minute later on a busy host (0.49 s against an arrival's 1.18 s), a
        # quarter of a 2 s migration that the tool cannot know; a change to the model moves
        # every run.
        for case, errors in errors_by_case(rows).items():
            mean = statistics.fmean(errors)
            print(f"[{stack}] gate: {case:<22} error {mean:+.1f}% (mean of {len(errors)}:"
                  f" {', '.join(f'{e:+.1f}%' for e in errors)}), at most {args.max_error:g}%")
            if abs(mean) > args.max_error:
                failed.add(case)
    if failed:
        print(f"[{stack}] bench: FAILED: " + ", ".join(sorted(failed)))
        return 1
    return 0


def errors_by_case(rows):
    """Each converged case's errors against libvirt's time elapsed, run by run."""
    by_case = {}
    for r in rows:
        if r["time_error_pct"] is not None:
            by_case.setdefault(r["case"], []).append(r["time_error_pct"])
    return by_case


if __name__ == "__main__":
    sys.exit(main())
