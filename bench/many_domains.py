#!/usr/bin/python3
"""How long `--all-running` takes on many running guests at once (issue: measuring many domains
stays fast). Boots N small test guests (tests/guest), each running its load, waits until every
one is ready, then times `virt-migrate-predict --all-running --json -q` REPEAT times and prints:
the wall time against the measurement time, the tool's peak RSS, how many domains were predicted
and which failed (with the error), and each domain's time to its first dirty-rate period
(from the transcript the tool writes with $VMP_RECORD_EXCHANGES): what the setup cost under
this load. The guests are destroyed at the end.

  sudo /usr/bin/python3 bench/many_domains.py [--guests 20] [--memory 256] [--wss 16]
      [--rate 2000] [--repeat 2] [--measure-time 10] [--tool BINARY]... [--out FILE.jsonl]
      [--keep-transcripts DIR] [--keep-guests]

The guests run under TCG: on a 2-core host, 20 guests writing 2000 pages/s each keep both cores
busy by themselves, and every libvirt and QMP call waits for the CPU too.

The host's memory is warmed first (host_memory.py: free page reporting off, memory touched once),
as for the real migrations: QEMU's first dirty-rate measurement of a guest reads sampled pages in
every 2 MiB of its RAM, and the kernel here allocates and zeroes the memory a read first touches
(perf: the dirty-rate thread in clear_page under do_huge_pmd_anonymous_page; a fresh 256 MiB
guest's RSS grew by 128 MiB). On this project's machines, themselves virtual, that first touch
costs a fault in the outer hypervisor (0.4-0.5 GiB/s against 9-16 GiB/s): 20 fresh guests' first
measurements answered 4-15 s into the run instead of 5-10 s. --host-memory as-is measures without warming.
"""

import argparse
import contextlib
import datetime
import glob
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import host_memory  # noqa: E402
ROOT = os.path.dirname(HERE)
GUEST = os.path.join(ROOT, "tests", "guest")
TOOL = os.environ.get("VMP_TOOL", os.path.join(ROOT, "build", "src", "virt-migrate-predict"))



def start_all(names, args):
    env = dict(os.environ)
    env.setdefault("VMP_GUEST_TIMEOUT", "600")
    # A TCG guest booting on a saturated host can fail the kernel's timer check ("IO-APIC +
    # timer doesn't work") and panic; the check is only a boot-time sanity test.
    env["VMP_GUEST_EXTRA_CMDLINE"] = (env.get("VMP_GUEST_EXTRA_CMDLINE", "") + " no_timer_check").strip()
    procs = []
    for i, name in enumerate(names):
        procs.append(subprocess.Popen(
            [os.path.join(GUEST, "start-guest.sh"), name, str(args.memory), str(args.wss),
             str(args.rate), "random", str(i + 1)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        time.sleep(0.5)
    failed = []
    for name, p in zip(names, procs):
        _, err = p.communicate()
        if p.returncode != 0:
            failed.append((name, err.strip().splitlines()[-1] if err.strip() else "?"))
    return failed


def stop_all(names):
    for name in names:
        subprocess.run([os.path.join(GUEST, "stop-guest.sh"), name], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def setup_times_s(directory):
    """Each domain's time from its first call to its first calc-dirty-rate, from the transcript."""
    out = {}
    for path in glob.glob(os.path.join(directory, "*.jsonl")):
        with open(path) as f:
            lines = [json.loads(line) for line in f]
        for rec in lines[1:]:
            if rec.get("execute") == "calc-dirty-rate" or rec.get("libvirt") == "virDomainStartDirtyRateCalc":
                out[lines[0].get("domain", os.path.basename(path))] = rec.get("t_ms", 0) / 1000
                break
    return out


def one_run(args, tool, name):
    with tempfile.TemporaryDirectory() as rec:
        env = dict(os.environ, VMP_RECORD_EXCHANGES=rec)
        t0 = time.monotonic()
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.Popen([tool, "--all-running", "--json", "-q", "--measure-time",
                                  f"{args.measure_time}s"], env=env, stdout=out, stderr=err)
            _, status, usage = os.wait4(p.pid, 0)  # this run's own CPU time and peak RSS
            wall_s = time.monotonic() - t0
            returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            stdout = out.read()
        setup = setup_times_s(rec)
        if args.keep_transcripts:
            kept = os.path.join(args.keep_transcripts, name)
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(rec, kept)
    reports = json.loads(stdout) if stdout.strip() else []
    errors = {r.get("subject", "?"): r["error"] for r in reports if "error" in r}
    # How each domain's zero pages were counted: read ("memory-peek") or the RSS bound ("rss").
    zero_methods = {}
    for r in reports:
        m = r.get("guest", {}).get("zero_pages_method")
        if m:
            zero_methods[m] = zero_methods.get(m, 0) + 1
    return {
        "wall_s": round(wall_s, 2),
        "measure_time_s": args.measure_time,
        "exit_status": returncode,
        "domains": len(reports),
        "failed": errors,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "max_rss_kib": usage.ru_maxrss,
        "setup_s": {k: round(v, 2) for k, v in sorted(setup.items())},
        "zero_pages_methods": zero_methods,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--guests", type=int, default=20)
    ap.add_argument("--memory", type=int, default=256, help="MiB per guest")
    ap.add_argument("--wss", type=int, default=16, help="MiB each guest's load writes over")
    ap.add_argument("--rate", type=int, default=2000, help="pages/s each guest's load writes")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--measure-time", type=int, default=10, help="seconds (--measure-time)")
    ap.add_argument("--out", help="append each run as a JSON line")
    ap.add_argument("--keep-transcripts", metavar="DIR",
                    help="keep each run's transcripts (DIR/runN/DOMAIN.jsonl; with several "
                         "--tool, DIR/runN-T/ for the T-th) to see where the time went")
    ap.add_argument("--keep-guests", action="store_true",
                    help="leave the guests running at the end; a later run with it reuses them")
    ap.add_argument("--host-memory", choices=("warmed", "as-is"), default="warmed",
                    help="warm this machine's memory first as the migration benchmarks do "
                         "(host_memory.py; the default), or leave it as it is")
    ap.add_argument("--tool", action="append",
                    help="binary to time (repeatable: each runs on the same guests, in turn); "
                         "default $VMP_TOOL, else build/src/virt-migrate-predict")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("many_domains.py: run as root")
    names = [f"vmpm-{i:02d}" for i in range(1, args.guests + 1)]
    running = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--name"],
                             capture_output=True, text=True).stdout.split()
    reuse = args.keep_guests and all(n in running for n in names)
    if not reuse:
        stop_all(names)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.default_int_handler)  # the host's settings are restored
    with host_memory.warmed() if args.host_memory == "warmed" else contextlib.nullcontext():
        measure(args, names, reuse)


def measure(args, names, reuse):
    try:
        if reuse:
            print(f"reusing the {args.guests} running guests")
        else:
            t0 = time.monotonic()
            failed = start_all(names, args)
            print(f"{args.guests} guests of {args.memory} MiB ({args.rate} pages/s over {args.wss} "
                  f"MiB each) booted in {time.monotonic() - t0:.0f} s; failed to boot: "
                  f"{failed or 'none'}")
            if failed:
                sys.exit(1)
            time.sleep(5)
        tools = args.tool or [TOOL]
        runs = [(i, tool) for i in range(args.repeat) for tool in tools]
        for i, tool in runs:
            # With several tools, each run's transcripts apart: run1-1, run1-2, ...
            name = f"run{i + 1}" + (f"-{tools.index(tool) + 1}" if len(tools) > 1 else "")
            r = one_run(args, tool, name)
            r.update({"run": i + 1, "tool": tool, "guests": args.guests, "memory_mib": args.memory,
                      "wss_mib": args.wss, "rate_pages_s": args.rate, "host": platform.node(),
                      "host_memory": args.host_memory, "fresh_guests": not reuse and (i, tool) == runs[0],
                      "cpus": os.cpu_count(),
                      "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
            setup = list(r["setup_s"].values())
            print(f"run {i + 1} ({tool}): {r['domains']} domains in {r['wall_s']:.1f} s (measure time "
                  f"{args.measure_time} s, target {args.measure_time + 2} s), exit {r['exit_status']}, "
                  f"tool CPU {r['cpu_s']:.1f} s, RSS {r['max_rss_kib'] / 1024:.0f} MiB; to the first "
                  f"dirty-rate period: median {statistics.median(setup) if setup else float('nan'):.1f} s, "
                  f"max {max(setup) if setup else float('nan'):.1f} s; zero pages "
                  f"{r['zero_pages_methods'] or 'none'}; failed: {r['failed'] or 'none'}")
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(r) + "\n")
    finally:
        if not args.keep_guests:
            stop_all(names)


if __name__ == "__main__":
    main()
