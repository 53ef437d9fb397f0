#!/usr/bin/python3
"""Huge pages: what QEMU's pre-copy sends, and what calc-dirty-rate reports, for a guest whose RAM
is backed by 2 MiB (or 1 GiB) huge pages while the guest dirties 4 KiB pages.

For each case BACKING:PATTERN:RATE:MODE[:WSS]:
  BACKING  4k | 2m | 1g: the guest's RAM in ordinary memory, or in hugetlbfs pages of that size;
  PATTERN  random | sequential (any of the test guest's patterns), RATE page writes/s, over a
           WSS MiB (default 64) working set in a 512 MiB guest;
  MODE     precopy: plain pre-copy;
           pcap: pre-copy with the postcopy-ram capability set (`virsh migrate --postcopy`),
             never switched to post-copy;
           postcopy: post-copy after the first pass as libvirt does it
             (`--postcopy --postcopy-after-precopy`);
           pcswitch: `--postcopy`, and `virsh migrate-postcopy` as soon as a poll sees the first
             pass's bitmap sync (dirty-sync-count 2): the time of the request is known. (QEMU acts
             on a request at its next look at the pending bytes; with huge pages that can be the
             end of the pass, and QEMU 10.0 completes in pre-copy then if it can.)
it:

  1. boots tests/guest's guest (start-guest.sh, persistent, with
     `<memoryBacking><hugepages>...</hugepages></memoryBacking>` for 2m/1g) and records the RAM
     blocks' page sizes as QEMU sees them (HMP `info ramblock`);
  2. asks QEMU's calc-dirty-rate (page-sampling, 1 s, 16384 sample pages per GiB) once to warm
     up, then --calc-repeat times, and records each reported rate (MiB/s);
  3. migrates it for real with libvirt over loopback to a session libvirtd of user vmpdest
     (bench/setup-destination.sh's user; a daemon of this script's own, below)
     (`virsh migrate --live ... --bandwidth 32`, max downtime 300 ms, post-copy bandwidth 32),
     polling QEMU's query-migrate on the source every --poll-ms (20) through one interactive
     virsh: status, total-time, ram.transferred / remaining / normal / duplicate /
     normal-bytes / page-size / dirty-pages-rate / dirty-sync-count / precopy-bytes /
     postcopy-bytes / downtime-bytes, downtime; with QEMU trace events on the source
     (migration_bitmap_sync_end, migrate_pending_exact, migrate_pending_estimate,
     postcopy_discard_send_range, postcopy_discard_send_finish; the log backend writes them to
     /var/log/libvirt/qemu/DOMAIN.log) for the pages found dirty at each bitmap sync, the
     pending bytes after it, how often the migration thread looked at its pending estimate,
     and, at the switch to post-copy, the ranges the destination is told to discard; and the
     load's own per-second counts (vmp.stats=1: writes, missed) from both consoles. A
     migration still running after --deadline seconds (30) is aborted (did not converge).
  4. destroys the guest on both daemons.

From the polls it derives, per iteration (between two bitmap syncs), the bytes and normal
(4 KiB) pages sent. One JSON line per run on stdout and appended to --out FILE (a header line
first); a table on stderr. --summarize FILE... prints the table of saved runs.

HOST SETTINGS IT CHANGES, all restored on every exit path (finally; SIGINT/SIGTERM/SIGHUP turned
into an exit that runs it; a SIGKILL cannot be caught: then check what the log said it changed):
  - /proc/sys/vm/nr_hugepages (and the 1 GiB pool) raised to what the source and the
    destination guests need, back to the previous value;
  - a hugetlbfs mount at /dev/hugepages (and /dev/hugepages1G for 1 GiB) when none is mounted,
    unmounted at the end; libvirtd only finds hugetlbfs mounts when it starts, so the system
    libvirtd is restarted (by its pid file) after mounting and again after unmounting;
  - the destination: a session libvirtd of user vmpdest started by this script with XDG
    directories of its own under ~vmpdest/hugepages-py (its own host UUID, and
    `hugetlbfs_mount` in its qemu.conf: a session daemon finds no hugetlbfs by itself), so
    that setup-destination.sh's shared daemon and its configuration are left alone; stopped by
    pid (with the virtlogd it spawned) and the directory removed at the end;
  - vm.unprivileged_userfaultfd=1 while post-copy cases run (the destination QEMU runs as
    vmpdest; see bench/postcopy.py), then the previous value;
  - bench/host_memory.py's warm (free page reporting off, free memory touched once), unless
    --no-warm.
1 GiB cases are skipped (a JSON line says why) when the host has no 1 GiB huge pages.

Run as root, under the VM lock, on a quiet machine:
  flock /tmp/vmp-vm.lock bench/hugepages.py [--out FILE] [CASE...]
  flock /tmp/vmp-vm.lock bench/hugepages.py --out bench/results/X.jsonl 4k:random:2000:precopy \\
      2m:random:2000:precopy
  bench/hugepages.py --summarize bench/results/2026-12-03-qemu10.0-hugepages.jsonl
Without CASEs: random 2000 and 20000, sequential 2000, each precopy/pcap/postcopy, 4k and 2m.
"""
import argparse
import datetime
import json
import os
import platform
import pwd
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import host_memory  # noqa: E402  (stdlib only)

GUEST = os.path.join(ROOT, "tests", "guest")
SOURCE_URI = "qemu:///system"
NAME = "vmphuge"
MEM_MIB, WSS_MIB = 512, 64
DEST_USER = "vmpdest"
DEST_HOME = f"/home/{DEST_USER}"
DEST_DIR = f"{DEST_HOME}/hugepages-py"   # the destination daemon's own XDG directories
UFFD_SYSCTL = "/proc/sys/vm/unprivileged_userfaultfd"
POOLS = {"2m": ("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
                "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
                2 << 20, "/dev/hugepages", "2M"),
         "1g": ("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
                "/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages",
                1 << 30, "/dev/hugepages1G", "1G")}
BACKING_XML = {"4k": "",
               "2m": "<memoryBacking><hugepages/></memoryBacking>",
               "1g": "<memoryBacking><hugepages><page size='1' unit='G'/></hugepages>"
                     "</memoryBacking>"}
TRACE_EVENTS = ("migration_bitmap_sync_end", "migrate_pending_exact", "migrate_pending_estimate",
                "postcopy_discard_send_range", "postcopy_discard_send_finish",
                "ram_postcopy_send_discard_bitmap")
PATTERNS = ("random", "sequential", "hotcold", "bursty", "growing", "phased")
MODES = ("precopy", "pcap", "postcopy", "pcswitch")
DEFAULT_CASES = [f"{b}:{load}:{mode}" for load in ("random:2000", "random:20000",
                                                  "sequential:2000")
                 for mode in ("precopy", "pcap", "postcopy") for b in ("4k", "2m")]
# query-migrate, one row per poll
SERIES_COLUMNS = ["poll_ms", "status", "total_time_ms", "transferred", "remaining",
                  "dirty_sync_count", "normal", "duplicate", "normal_bytes",
                  "dirty_pages_rate", "page_size", "mbps", "expected_downtime_ms",
                  "downtime_ms", "postcopy_requests", "precopy_bytes", "downtime_bytes",
                  "postcopy_bytes", "setup_time_ms"]
C = {k: i for i, k in enumerate(SERIES_COLUMNS)}


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


def log(*a):
    print("hugepages:", *a, file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def virsh(args, uri=SOURCE_URI, check=True):
    return run(["virsh", "-q", "-c", uri] + args, check=check)


def qmp(name, obj, uri=SOURCE_URI):
    return json.loads(virsh(["qemu-monitor-command", name, json.dumps(obj)], uri).stdout)


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def meminfo():
    out = {}
    for line in read("/proc/meminfo", "").splitlines():
        k, v = line.split(":", 1)
        out[k] = int(v.split()[0])
    return out


# ---------------------------------------------------------------- host settings, undone in order
class Host:
    def __init__(self):
        self.undo = []   # (description, callable), undone last first
        self.dest_uri = None

    def restore(self):
        while self.undo:
            what, fn = self.undo.pop()
            try:
                fn()
                log(f"restored: {what}")
            except Exception as e:  # keep restoring the rest
                log(f"FAILED to restore {what}: {e}")

    # ---- libvirtd (system)
    @staticmethod
    def restart_libvirtd():
        pid = read("/run/libvirtd.pid") or read("/var/run/libvirtd.pid")
        if pid and os.path.exists(f"/proc/{pid}"):
            os.kill(int(pid), signal.SIGTERM)
            for _ in range(150):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.1)
        run(["libvirtd", "-d"])
        for _ in range(80):
            if virsh(["version"], check=False).returncode == 0:
                return
            time.sleep(0.25)
        raise RuntimeError("libvirtd did not come back")

    # ---- huge page pools and mounts
    def hugetlbfs(self, size, pages_needed):
        nr_path, free_path, page_bytes, mnt, opt = POOLS[size]
        if not os.path.exists(nr_path):
            return f"this host has no {opt} huge pages ({os.path.dirname(nr_path)} missing)"
        prev = int(read(nr_path))
        free = int(read(free_path))
        if free < pages_needed:
            write(nr_path, prev + pages_needed - free)
            self.undo.append((f"{nr_path} = {prev}", lambda: write(nr_path, prev)))
            got = int(read(free_path))
            log(f"{nr_path}: {prev} -> {read(nr_path)} ({got} free, {pages_needed} needed)")
            if got < pages_needed:
                return f"only {got} free {opt} huge pages after asking for {pages_needed}"
        mounted = [line.split() for line in read("/proc/mounts", "").splitlines()
                   if line.split()[2] == "hugetlbfs"]
        pagesize_of = lambda m: re.search(r"pagesize=(\w+)", m[3])  # noqa: E731
        mine = [m for m in mounted
                if (pagesize_of(m).group(1) if pagesize_of(m) else "2M").upper() == opt]
        if mine:
            return mine[0][1]
        made_dir = not os.path.isdir(mnt)
        os.makedirs(mnt, exist_ok=True)
        run(["mount", "-t", "hugetlbfs", "-o", f"pagesize={opt}", "hugetlbfs", mnt])
        log(f"mounted hugetlbfs pagesize={opt} at {mnt}; restarting libvirtd so that it sees it")

        def unmount():
            run(["umount", mnt])
            if made_dir:
                os.rmdir(mnt)
            self.restart_libvirtd()  # forget the mount again
        self.undo.append((f"unmount {mnt} (and restart libvirtd)", unmount))
        self.restart_libvirtd()
        return mnt

    # ---- the destination: a libvirtd of user vmpdest's own, for this script only
    def destination(self, mount):
        """Starts a session libvirtd of user vmpdest (bench/setup-destination.sh's user) with
        its own XDG directories under DEST_DIR: its own host UUID, and `hugetlbfs_mount` in its
        qemu.conf when huge pages are used (a session daemon finds no hugetlbfs by itself).
        The shared daemon of setup-destination.sh and its configuration are left alone. This
        daemon (and the virtlogd it spawns) is stopped by pid and DEST_DIR removed at the end.
        mount: the hugetlbfs mount (or None). Returns the destination URI."""
        try:
            pw = pwd.getpwnam(DEST_USER)
        except KeyError:
            raise RuntimeError(f"no user {DEST_USER}: run bench/setup-destination.sh once")
        if os.path.exists(DEST_DIR):
            raise RuntimeError(f"{DEST_DIR} exists: another run of this script, or a killed "
                               f"one (stop the libvirtd in {DEST_DIR}/run/libvirt/libvirtd.pid "
                               f"and remove the directory)")
        xdg = {k: os.path.join(DEST_DIR, k.split("_")[1].lower())
               for k in ("XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME",
                         "XDG_DATA_HOME")}
        os.makedirs(os.path.join(xdg["XDG_CONFIG_HOME"], "libvirt"))
        for d in list(xdg.values()) + [os.path.join(DEST_DIR, "bench")]:
            os.makedirs(d, exist_ok=True)
        self.undo.append((f"remove {DEST_DIR}", lambda: shutil.rmtree(DEST_DIR)))
        write(os.path.join(xdg["XDG_CONFIG_HOME"], "libvirt", "libvirtd.conf"),
              f'host_uuid = "{read("/proc/sys/kernel/random/uuid")}"\n')
        if mount:
            d = os.path.join(mount, f"{DEST_USER}-hugepages-py")
            os.makedirs(d, exist_ok=True)
            self.undo.append((f"remove {d}", lambda: shutil.rmtree(d, ignore_errors=True)))
            os.chown(d, pw.pw_uid, pw.pw_gid)
            write(os.path.join(xdg["XDG_CONFIG_HOME"], "libvirt", "qemu.conf"),
                  f'hugetlbfs_mount = "{d}"\n')
        for dirpath, dirnames, filenames in os.walk(DEST_DIR):
            for n in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
                os.chown(n, pw.pw_uid, pw.pw_gid)
        os.chmod(DEST_DIR, 0o755)
        os.chmod(os.path.join(DEST_DIR, "bench"), 0o755)
        env = " ".join(f"{k}={v}" for k, v in xdg.items())
        run(["su", DEST_USER, "-c", f"{env} libvirtd -d"])
        uri = f"qemu+unix:///session?socket={xdg['XDG_RUNTIME_DIR']}/libvirt/libvirt-sock"
        pidfile = os.path.join(xdg["XDG_RUNTIME_DIR"], "libvirt", "libvirtd.pid")
        for _ in range(80):
            if virsh(["version"], uri, check=False).returncode == 0:
                break
            time.sleep(0.25)
        pid = int(read(pidfile, "0"))
        logpid = os.path.join(xdg["XDG_RUNTIME_DIR"], "libvirt", "virtlogd.pid")

        def stop_daemons():
            self._stop_pid(pid)
            self._stop_pid(int(read(logpid, "0")))  # the virtlogd it spawned, if any
        self.undo.append((f"stop {DEST_USER}'s libvirtd started here (pid {pid}) and its "
                          f"virtlogd", stop_daemons))
        virsh(["version"], uri)
        log(f"destination: {uri} (libvirtd pid {pid}, as {DEST_USER})")
        self.dest_uri = uri
        return uri

    @staticmethod
    def _stop_pid(pid):
        if pid and os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not os.path.exists(f"/proc/{pid}"):
                    return
                time.sleep(0.1)

    def uffd(self):
        prev = read(UFFD_SYSCTL)
        if prev != "1":
            write(UFFD_SYSCTL, "1")
            self.undo.append((f"vm.unprivileged_userfaultfd = {prev}",
                              lambda: write(UFFD_SYSCTL, prev)))

    def warm(self):
        if host_memory.warm():
            self.undo.append(("free page reporting (host_memory.py)", host_memory.restore))


# ---------------------------------------------------------------- one interactive virsh
class Monitor:
    """query-migrate every few ms without a process per query: one `virsh` reading commands
    from a pipe; each command is followed by an echo whose output marks the end of the answer."""
    MARK = b"@@ END"

    def __init__(self, uri):
        self.p = subprocess.Popen(["virsh", "-q", "-c", uri], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)

    def cmd(self, line, timeout=10.0):
        self.p.stdin.write(line.encode() + b'\necho "@@" "END"\n')
        buf, deadline = b"", time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while self.MARK not in buf.replace(b'"@@" "END"', b""):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError(line)
            d = os.read(fd, 65536)
            if not d:
                raise EOFError("virsh exited")
            buf += d
        return buf.decode(errors="replace")

    def qmp(self, name, obj):
        text = self.cmd(f"qemu-monitor-command {name} '{json.dumps(obj)}'")
        i = text.find('{"return"')
        if i < 0:
            return None  # the domain is gone (its error went to stderr)
        return json.JSONDecoder().raw_decode(text[i:])[0]["return"]

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=5)
        except Exception:
            self.p.kill()


# ---------------------------------------------------------------- measurements
def ramblocks(name):
    """HMP `info ramblock`: block name -> page size as QEMU prints it (e.g. 2 MiB)."""
    out = virsh(["qemu-monitor-command", name, "--hmp", "info ramblock"]).stdout
    blocks = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] != "Block" and re.match(r"^\d", f[1]):
            blocks[f[0]] = f"{f[1]} {f[2]}"
    return blocks, out


def dirty_rate(name, calc_s, sample_pages):
    qmp(name, {"execute": "calc-dirty-rate",
               "arguments": {"calc-time": calc_s, "sample-pages": sample_pages}})
    deadline = time.monotonic() + calc_s + 30
    while time.monotonic() < deadline:
        r = qmp(name, {"execute": "query-dirty-rate"})["return"]
        if r.get("status") == "measured":
            return {k: r.get(k) for k in ("dirty-rate", "sample-pages", "calc-time", "mode")}
        time.sleep(0.1)
    raise RuntimeError("calc-dirty-rate did not finish")


def series_row(t_ms, q):
    ram = q.get("ram", {})
    return [t_ms, q.get("status"), q.get("total-time"), ram.get("transferred"),
            ram.get("remaining"), ram.get("dirty-sync-count"), ram.get("normal"),
            ram.get("duplicate"), ram.get("normal-bytes"), ram.get("dirty-pages-rate"),
            ram.get("page-size"), ram.get("mbps"), q.get("expected-downtime"),
            q.get("downtime"), ram.get("postcopy-requests"), ram.get("precopy-bytes"),
            ram.get("downtime-bytes"), ram.get("postcopy-bytes"), q.get("setup-time")]


def domjobinfo_raw(name):
    r = virsh(["domjobinfo", name, "--completed", "--rawstats"], check=False)
    out = {}
    for line in r.stdout.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            v = v.strip()
            out[k.strip()] = int(v) if re.fullmatch(r"-?\d+", v) else v
    return out


def migrate(name, dest_uri, mode, args):
    xml = virsh(["dumpxml", "--migratable", name]).stdout.replace(
        f"/var/lib/libvirt/vmp-guest/logs/{name}.console.log",
        f"{DEST_DIR}/bench/{name}.console.log")
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False, dir="/tmp") as f:
        f.write(xml)
        xml_path = f.name
    os.chmod(xml_path, 0o644)
    virsh(["migrate-setmaxdowntime", name, str(args.downtime)])
    cmd = ["virsh", "-c", SOURCE_URI, "migrate", "--live", name, dest_uri,
           "--migrateuri", "tcp://127.0.0.1", "--xml", xml_path,
           "--bandwidth", str(args.speed)]
    if mode in ("pcap", "postcopy", "pcswitch"):
        cmd += ["--postcopy", "--postcopy-bandwidth", str(args.speed)]
    if mode == "postcopy":
        cmd += ["--postcopy-after-precopy"]
    mon = Monitor(SOURCE_URI)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    series, aborted, caps, switch = [], False, None, None
    try:
        while p.poll() is None:
            try:
                q = mon.qmp(name, {"execute": "query-migrate"})
            except (TimeoutError, EOFError):
                q = None
            if q:
                series.append(series_row(round((time.monotonic() - t0) * 1000), q))
                if caps is None and q.get("status") == "active":
                    c = mon.qmp(name, {"execute": "query-migrate-capabilities"}) or []
                    caps = sorted(x["capability"] for x in c if x.get("state"))
                # pcswitch: ask for post-copy as soon as a poll sees the first pass's sync
                if (mode == "pcswitch" and switch is None and q.get("status") == "active"
                        and (q.get("ram", {}).get("dirty-sync-count") or 0) >= 2):
                    switch = {"asked_at_poll_ms": series[-1][0],
                              "asked_at_total_time_ms": q.get("total-time")}
                    r = virsh(["migrate-postcopy", name], check=False)
                    switch["rc"], switch["error"] = r.returncode, r.stderr.strip()[-200:]
            if not aborted and time.monotonic() - t0 > args.deadline:
                run(["virsh", "-c", SOURCE_URI, "domjobabort", name], check=False)
                aborted = True
            time.sleep(args.poll_ms / 1000)
        _, err = p.communicate()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        mon.close()
        os.unlink(xml_path)
    stats = domjobinfo_raw(name)
    return {"rc": p.returncode, "aborted": aborted, "virsh_error": err.strip()[-400:],
            "completed": p.returncode == 0 and not aborted,
            "wall_s": round(time.monotonic() - t0, 3), "capabilities_on": caps,
            "switch_asked": switch,
            "libvirt_completed_job": stats, "series": series}


def parse_trace(text):
    """The trace lines of the source QEMU's log: `PID@SEC.USEC:event args`."""
    syncs, pending, estimates, discards, finish, other = [], [], [], [], [], []
    for line in text.splitlines():
        # `PID@SEC.USEC:event args` with -msg timestamp=on (libvirt's), else `event args`
        m = re.match(r"^(?:\d+@(\d+\.\d+):)?(\w+) (.*)$", line.strip())
        if not m or m.group(2) not in TRACE_EVENTS:
            continue
        ts, ev, rest = float(m.group(1) or 0), m.group(2), m.group(3)
        nums = [int(x) for x in re.findall(r"\b\d+\b", rest)]
        if ev == "migration_bitmap_sync_end":
            syncs.append([ts, nums[-1] if nums else None])
        elif ev == "migrate_pending_exact":
            pending.append([ts] + nums[:3])
        elif ev == "migrate_pending_estimate":
            estimates.append([ts] + nums[:1])
        elif ev == "postcopy_discard_send_range":
            # "%s:%lx/%lx": ramblock, start page, length in target pages (hex)
            mm = re.search(r"(\S+):([0-9a-fA-F]+)/([0-9a-fA-F]+)", rest)
            if mm:
                discards.append([mm.group(1), int(mm.group(2), 16), int(mm.group(3), 16)])
        elif ev == "postcopy_discard_send_finish":
            finish.append(rest)
        elif ev == "ram_postcopy_send_discard_bitmap":
            other.append([ts, ev, rest])
    t0 = syncs[0][0] if syncs else None
    rel = lambda ts: None if t0 is None else round((ts - t0) * 1000, 1)  # noqa: E731
    by_block = {}
    for blk, start, length in discards:
        b = by_block.setdefault(blk, {"ranges": 0, "pages": 0, "starts_2m_aligned": 0,
                                      "lengths_multiple_of_512": 0})
        b["ranges"] += 1
        b["pages"] += length
        b["starts_2m_aligned"] += start % 512 == 0
        b["lengths_multiple_of_512"] += length % 512 == 0
    # How often the migration thread looked at the pending estimate (each return of
    # ram_save_iterate to migration_iteration_run), per interval between bitmap syncs
    sync_ts = [ts for ts, _ in syncs]
    est_per_interval = [sum(1 for e in estimates if a <= e[0] < b)
                        for a, b in zip(sync_ts, sync_ts[1:])]
    return {"bitmap_syncs": [[rel(ts), n] for ts, n in syncs],
            "pending_estimates": len(estimates),
            "pending_estimates_per_sync_interval": est_per_interval,
            "pending_exact": [[rel(p[0])] + p[1:] for p in pending],
            "discard_by_block": by_block, "discard_finish": finish,
            "discard_bitmap_sent_ms": [rel(o[0]) for o in other]}


def iterations(series):
    """Per iteration (between bitmap syncs k and k+1, as the polls saw them): bytes, normal and
    zero pages sent, from the first poll that saw sync count k to the first that saw k+1."""
    rows = [r for r in series if r[C["dirty_sync_count"]] is not None and r[C["transferred"]]
            is not None]
    first = {}
    for r in rows:
        first.setdefault(r[C["dirty_sync_count"]], r)
    out = []
    ks = sorted(first)
    for a, b in zip(ks, ks[1:] + [None]):
        ra = first[a]
        rb = first[b] if b is not None else rows[-1]
        out.append({"sync": a, "from_ms": ra[C["total_time_ms"]], "to_ms": rb[C["total_time_ms"]],
                    "complete": b is not None,
                    "status_end": rb[C["status"]],
                    "bytes": rb[C["transferred"]] - ra[C["transferred"]],
                    "normal_pages": rb[C["normal"]] - ra[C["normal"]],
                    "zero_pages": rb[C["duplicate"]] - ra[C["duplicate"]],
                    "remaining_at_start": ra[C["remaining"]],
                    "dirty_pages_rate": rb[C["dirty_pages_rate"]]})
    return out


def summary_of(real):
    s = real["series"]
    done = [r for r in s if r[C["status"]] == "completed"]
    with_ram = [r for r in s if r[C["transferred"]] is not None]  # a cancelled one has none
    last = done[-1] if done else (with_ram[-1] if with_ram else [None] * len(SERIES_COLUMNS))
    pc = [r for r in s if r[C["status"]] == "postcopy-active"]
    stats = real.get("libvirt_completed_job", {})
    return {
        "converged": real["completed"],
        "last_status": last[C["status"]],
        "qemu_total_time_ms": last[C["total_time_ms"]] if done else None,
        "qemu_downtime_ms": last[C["downtime_ms"]] if done else None,
        "libvirt_time_elapsed_ms": stats.get("time_elapsed"),
        "libvirt_downtime_ms": stats.get("downtime"),
        "transferred_bytes": last[C["transferred"]],
        "normal_pages": last[C["normal"]],
        "zero_pages": last[C["duplicate"]],
        "page_size_reported": sorted({r[C["page_size"]] for r in s if r[C["page_size"]]}),
        "dirty_sync_count": last[C["dirty_sync_count"]],
        "dirty_pages_rates_reported": sorted({r[C["dirty_pages_rate"]] for r in s
                                              if r[C["dirty_pages_rate"]]}),
        "precopy_bytes": last[C["precopy_bytes"]],
        "downtime_bytes": last[C["downtime_bytes"]],
        "postcopy_bytes": last[C["postcopy_bytes"]],
        "postcopy_requests": last[C["postcopy_requests"]],
        "switch_seen_ms": pc[0][C["total_time_ms"]] if pc else None,
        "remaining_at_switch": pc[0][C["remaining"]] if pc else None,
        "polls": len(s),
    }


# ---------------------------------------------------------------- one case
def stop(name, dest_uri):
    if dest_uri:
        virsh(["destroy", name], dest_uri, check=False)
        virsh(["undefine", name], dest_uri, check=False)
    env = dict(os.environ, VMP_GUEST_PERSISTENT="1", LIBVIRT_URI=SOURCE_URI)
    run([os.path.join(GUEST, "stop-guest.sh"), name], env=env, check=False)


def run_case(case, args, dest_uri, seed):
    backing, pattern, rate, mode = case.split(":")[:4]
    wss = int(case.split(":")[4]) if case.count(":") >= 4 else WSS_MIB
    row = {"case": case, "backing": backing, "pattern": pattern, "rate": int(rate),
           "mode": mode, "mem_mib": MEM_MIB, "wss_mib": wss, "speed_mib_s": args.speed,
           "downtime_limit_ms": args.downtime, "deadline_s": args.deadline, "seed": seed,
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    stop(NAME, dest_uri)
    # vmp.stats=1: the load prints its writes and missed writes every second (is the guest
    # keeping its rate while QEMU, the migration and the destination share two cores?)
    env = dict(os.environ, VMP_GUEST_PERSISTENT="1", LIBVIRT_URI=SOURCE_URI,
               VMP_GUEST_MEMORY_BACKING=BACKING_XML[backing],
               VMP_GUEST_EXTRA_CMDLINE="vmp.stats=1")
    qlog = f"/var/log/libvirt/qemu/{NAME}.log"
    t0 = time.monotonic()
    try:
        r = run([os.path.join(GUEST, "start-guest.sh"), NAME, str(MEM_MIB), str(wss), rate,
                 pattern, str(seed)], env=env, check=False)
        if r.returncode:
            row["error"] = f"start-guest.sh failed: {r.stderr.strip()[-600:]}"
            return row
        row["boot_s"] = round(time.monotonic() - t0, 1)
        row["ramblocks"], _ = ramblocks(NAME)
        row["hugepages_free_after_boot"] = meminfo().get("HugePages_Free")
        time.sleep(1)
        dirty_rate(NAME, args.calc_s, args.sample_pages)  # warm-up: the first reads low
        rates = [dirty_rate(NAME, args.calc_s, args.sample_pages)
                 for _ in range(args.calc_repeat)]
        row["calc_dirty_rate"] = rates
        row["calc_dirty_rate_mib_s"] = [x["dirty-rate"] for x in rates]
        offset = os.path.getsize(qlog) if os.path.exists(qlog) else 0
        for ev in TRACE_EVENTS:
            qmp(NAME, {"execute": "trace-event-set-state",
                       "arguments": {"name": ev, "enable": True}})
        real = migrate(NAME, dest_uri, mode, args)
        with open(qlog, errors="replace") as f:
            f.seek(offset)
            trace = f.read()
        row["trace"] = parse_trace(trace)
        row["summary"] = summary_of(real)
        row["iterations"] = iterations(real["series"])
        row["real"] = real
        row["series_columns"] = SERIES_COLUMNS
        row["load_stats"] = {}
        for side, path in (("source", f"/var/lib/libvirt/vmp-guest/logs/{NAME}.console.log"),
                           ("destination", f"{DEST_DIR}/bench/{NAME}.console.log")):
            text = read(path, "") or ""
            row["load_stats"][side] = [x.strip() for x in text.splitlines()
                                       if x.startswith("vmp-load: stats")]
        if not row["trace"]["bitmap_syncs"]:
            row["trace_note"] = "no trace lines found in " + qlog
    finally:
        stop(NAME, dest_uri)
    return row


# ---------------------------------------------------------------- output
def mib(b):
    return "-" if b is None else f"{b / 1048576:.1f}"


def print_row(r, out=sys.stderr):
    if "summary" not in r:
        print(f"{r['case']:<28} {r.get('error') or r.get('skipped')}", file=out)
        return
    s = r["summary"]
    its = r["iterations"]
    per_it = " ".join(f"{mib(i['bytes'])}" for i in its[1:8])
    syncs = " ".join(str(n) for _, n in r["trace"]["bitmap_syncs"][:8])
    disc = r["trace"]["discard_by_block"]
    d = ""
    if disc:
        d = " discard " + ", ".join(f"{b}:{v['pages']}p/{v['ranges']}r" for b, v in disc.items())
    print(f"{r['case']:<28} {','.join(sorted(set(r['ramblocks'].values())))[:24]:<24} "
          f"calc {r['calc_dirty_rate_mib_s']} MiB/s | "
          f"{'converged' if s['converged'] else 'NOT converged (' + str(s['last_status']) + ')'} "
          f"total {s['qemu_total_time_ms']} ms down {s['qemu_downtime_ms']} ms, "
          f"{mib(s['transferred_bytes'])} MiB, normal {s['normal_pages']}, zero "
          f"{s['zero_pages']}, page-size {s['page_size_reported']}, syncs "
          f"{s['dirty_sync_count']}, dirty-pages-rate {s['dirty_pages_rates_reported'][:4]}, "
          f"pc-bytes {mib(s['postcopy_bytes'])} MiB req {s['postcopy_requests']}"
          f"\n{'':28} MiB per iteration after the first pass: {per_it}; dirty pages at syncs "
          f"(trace): {syncs}{d}", file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="*", default=DEFAULT_CASES,
                    help="BACKING:PATTERN:RATE:MODE[:WSS_MIB], e.g. 2m:random:2000:pcap")
    ap.add_argument("--out")
    ap.add_argument("--speed", type=int, default=32, help="migration cap, MiB/s")
    ap.add_argument("--downtime", type=int, default=300, help="max downtime, ms")
    ap.add_argument("--deadline", type=float, default=30, help="abort after this many s")
    ap.add_argument("--poll-ms", type=float, default=20)
    ap.add_argument("--calc-s", type=int, default=1)
    ap.add_argument("--calc-repeat", type=int, default=3)
    ap.add_argument("--sample-pages", type=int, default=16384)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-warm", action="store_true")
    ap.add_argument("--stop-at", metavar="HH:MM",
                    help="start no case after this UTC time (the rest get a skipped line)")
    ap.add_argument("--note", default="")
    ap.add_argument("--summarize", nargs="+", metavar="FILE")
    args = ap.parse_args()
    if args.summarize:
        for path in args.summarize:
            with open(path) as f:
                for line in f:
                    r = json.loads(line)
                    if "header" not in r:
                        if "real" in r:  # recomputed from the raw polls
                            r["summary"] = summary_of(r["real"])
                            r["iterations"] = iterations(r["real"]["series"])
                        print_row(r, sys.stdout)
        return 0
    for c in args.cases:
        b, p, rate, m, wss = (c.split(":") + [""] * 5)[:5]
        if (b not in BACKING_XML or p not in PATTERNS or not rate.isdigit() or m not in MODES
                or (wss and not wss.isdigit())):
            ap.error(f"bad case {c!r}")
    if os.geteuid() != 0:
        ap.error("run as root")

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    host = Host()
    out = open(args.out, "a") if args.out else None
    try:
        if virsh(["version"], check=False).returncode:
            run(["virtlogd", "-d"], check=False)
            run(["libvirtd", "-d"], check=False)
            time.sleep(2)
        sizes = sorted({c.split(":")[0] for c in args.cases} - {"4k"})
        pages_per_guest = {"2m": MEM_MIB // 2, "1g": max(1, MEM_MIB // 1024)}
        unusable, mounts = {}, {}
        for size in sizes:
            # the source's and the destination's guest, and a few spare
            res = host.hugetlbfs(size, 2 * pages_per_guest[size] + (4 if size == "2m" else 0))
            if res.startswith("/"):
                mounts[size] = res
            else:
                unusable[size] = res
                log(f"{size} cases skipped: {res}")
        if len(mounts) > 1:
            log("one hugetlbfs mount for the destination daemon: the first size's")
        mount = next(iter(mounts.values()), None)
        if any(c.split(":")[3] in ("postcopy", "pcswitch") for c in args.cases):
            host.uffd()
        dest_uri = host.destination(mount)
        if not args.no_warm:
            host.warm()
        header = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                      timespec="seconds"),
                  "host": platform.node(), "cpus": os.cpu_count(),
                  "kernel": platform.release(),
                  "versions": virsh(["version"]).stdout.strip().splitlines(),
                  "hugetlbfs_mounts": mounts, "unusable": unusable,
                  "meminfo_hugepages": {k: v for k, v in meminfo().items() if "Huge" in k},
                  "thp_enabled": read("/sys/kernel/mm/transparent_hugepage/enabled"),
                  "dest_uri": dest_uri, "note": args.note,
                  "loadavg_at_start": os.getloadavg()}
        print(json.dumps({"header": header}), flush=True)
        if out:
            out.write(json.dumps({"header": header}) + "\n")
            out.flush()
        for case in args.cases:
            backing = case.split(":")[0]
            if backing in unusable:
                row = {"case": case, "skipped": unusable[backing]}
            elif args.stop_at and time.strftime("%H:%M", time.gmtime()) >= args.stop_at:
                row = {"case": case, "skipped": f"not started: past --stop-at {args.stop_at} UTC"}
            else:
                log(f"case {case} ({time.strftime('%H:%M:%S', time.gmtime())} UTC)")
                row = run_case(case, args, dest_uri, args.seed)
            row["loadavg_after"] = os.getloadavg()
            print(json.dumps(row), flush=True)
            print_row(row)
            if out:
                out.write(json.dumps(row) + "\n")
                out.flush()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            stop(NAME, host.dest_uri)
        finally:
            host.restore()
            if out:
                out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
