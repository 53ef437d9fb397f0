#!/usr/bin/python3
"""What libvirt adds to QEMU's migration time, measured: libvirt's job elapsed time against
QEMU's own total-time, for idle guests of several sizes and memory backings.

libvirt's job starts before QEMU's migration does: the destination QEMU is started
(-incoming defer), its monitor probed, the migration capabilities and parameters set on both
ends. What a guest's memory backing asks the destination QEMU to do at start (preallocating
every page) goes in that time too. This script migrates an idle test guest over loopback
(bench/setup-destination.sh) with a cap that does not limit it, and records:
  - qemu_total_time_ms: QEMU's total-time (source, polled every 20 ms);
  - libvirt_time_elapsed_ms: virsh domjobinfo --completed's "Time elapsed";
  - before_qemu_ms: from `virsh migrate` starting to QEMU's migration starting
    (poll time minus total-time on the first poll that sees the migration);
  - wall_ms: until `virsh migrate` returned (libvirt's Finish and Confirm steps too).

  sudo /usr/bin/python3 bench/libvirt_steps.py [--sizes 512,2048,4096] [--repeat 2]
      [--backings default,immediate] [--arch x86_64|aarch64] [--rate PAGES_PER_S]
      [--out bench/results/FILE.jsonl] [--note TEXT]
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys

import libvirt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import host_memory  # noqa: E402

BACKINGS = {
    "default": "",
    "immediate": "<memoryBacking><allocation mode='immediate'/></memoryBacking>",
}


def one(size, backing, seed, src_conn, dest_conn, dest_uri, args):
    name = f"vmpsteps-{size}-{backing}"
    bench.stop_guest(name, dest_conn)
    os.environ["VMP_GUEST_MEMORY_BACKING"] = BACKINGS[backing]
    try:
        # A load writes over 64 MiB (touched at boot); idle, nothing is touched.
        bench.start_guest(name, size, 64 if args.rate else 0, args.rate, "random", seed,
                          args.arch)
    finally:
        os.environ.pop("VMP_GUEST_MEMORY_BACKING", None)
    try:
        dom = src_conn.lookupByName(name)
        dom.migrateSetMaxSpeed(args.speed, 0)
        real = bench.migrate(src_conn, name, dest_uri, 120)
    finally:
        bench.stop_guest(name, dest_conn)
    series = [r for r in real["qemu_series"] if r[2] is not None]
    before = series[0][0] - series[0][2] if series else None
    q, e = real["qemu_total_time_ms"], real["libvirt_time_elapsed_ms"]
    return {
        "size_mib": size, "backing": backing, "arch": args.arch, "rate": args.rate, "seed": seed,
        "completed": real["completed"],
        "qemu_total_time_ms": q, "libvirt_time_elapsed_ms": e,
        "libvirt_minus_qemu_ms": (e - q) if q is not None and e is not None else None,
        "before_qemu_ms": before, "wall_ms": round(real["wall_s"] * 1000),
        "other_cpu_share": real["other_cpu_share"], "virsh_error": real["virsh_error"],
    }


def measure(args, rows, out, src_conn, dest_conn, dest_uri):
    for rep in range(args.repeat):
        for size in [int(s) for s in args.sizes.split(",")]:
            for backing in args.backings.split(","):
                r = one(size, backing, rep + 1, src_conn, dest_conn, dest_uri, args)
                rows.append(r)
                print(f"{size:6} MiB {backing:10} libvirt-qemu {r['libvirt_minus_qemu_ms']} ms,"
                      f" before QEMU {r['before_qemu_ms']} ms, QEMU {r['qemu_total_time_ms']} ms,"
                      f" libvirt {r['libvirt_time_elapsed_ms']} ms, virsh {r['wall_ms']} ms"
                      f" {r['virsh_error']}", flush=True)
                if out:
                    out.write(json.dumps(r) + "\n")
                    out.flush()


def summarize(args, rows):
    print("median libvirt - QEMU, ms:")
    for size in [int(s) for s in args.sizes.split(",")]:
        for backing in args.backings.split(","):
            mine = [r for r in rows if r["size_mib"] == size and r["backing"] == backing
                    and r["libvirt_minus_qemu_ms"] is not None]
            if not mine:
                continue
            v = [r["libvirt_minus_qemu_ms"] for r in mine]
            w = [r["wall_ms"] - r["qemu_total_time_ms"] for r in mine]
            q = [r["qemu_total_time_ms"] for r in mine]
            print(f"  {size:6} MiB {backing:10} {statistics.median(v):7.0f}"
                  f" (range {min(v)}-{max(v)}); virsh - QEMU {statistics.median(w):7.0f};"
                  f" QEMU {statistics.median(q):7.0f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="512,2048,4096")
    ap.add_argument("--backings", default="default,immediate")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--speed", type=int, default=8192, help="max speed, MiB/s (not limiting)")
    ap.add_argument("--arch", default="x86_64", choices=["x86_64", "aarch64"],
                    help="the test guest's architecture (tests/guest, VMP_GUEST_ARCH)")
    ap.add_argument("--rate", type=int, default=0,
                    help="the guest's load: random page writes/s over 64 MiB (0: idle)")
    ap.add_argument("--cold", action="store_true",
                    help="leave this machine's free page reporting on (see host_memory.py)")
    ap.add_argument("--out")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    dest_uri = bench.run([os.path.join(bench.ROOT, "bench", "setup-destination.sh")]).stdout.strip()
    src_conn = libvirt.open(bench.SOURCE_URI)
    dest_conn = libvirt.open(dest_uri)
    header = {"header": {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node(), "cpus": os.cpu_count(), "qemu": src_conn.getVersion(),
        "libvirt": src_conn.getLibVersion(), "speed_mib_s": args.speed, "arch": args.arch,
        "rate": args.rate,
        "host_memory": "as it is" if args.cold else "warmed (host_memory.py)",
        "note": args.note}}
    out = open(args.out, "w") if args.out else None
    if out:
        out.write(json.dumps(header) + "\n")
    rows = []
    if args.cold:
        measure(args, rows, out, src_conn, dest_conn, dest_uri)
    else:
        with host_memory.warmed():
            measure(args, rows, out, src_conn, dest_conn, dest_uri)
    summarize(args, rows)


if __name__ == "__main__":
    main()
