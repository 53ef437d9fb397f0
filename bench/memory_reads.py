#!/usr/bin/python3
"""What a guest-memory read costs with many domains on a busy host (issue 16, item 3): the
zero-page sampler reads 64 KiB clusters with virDomainMemoryPeek. Run on guests already running
(bench/many_domains.py --keep-guests boots them: vmpm-01..NN), it times READS reads on each of
N domains, all domains at once, each through a libvirt connection of its own (as the tool
measures since c0a8e7b), and for comparison one domain alone; then the same through QMP's
`xp` (HMP through virDomainQemuMonitorCommand), 64 KiB and 4 KiB at a time. Reads only RAM the
test guest has (32 MiB up). Prints reads per second over all domains and each read's median.

  sudo /usr/bin/python3 bench/memory_reads.py [--domains 20] [--reads 5]
"""
import argparse
import json
import statistics
import threading
import time

import libvirt
import libvirt_qemu

BASE = 0x2000000  # 32 MiB: RAM on every test guest


def peek(dom, k, size):
    dom.memoryPeek(BASE + k * 65536, size, libvirt.VIR_MEMORY_PHYSICAL)


def xp(dom, k, size):
    cmd = {"execute": "human-monitor-command",
           "arguments": {"command-line": "xp /%dgx 0x%x" % (size // 8, BASE + k * 65536)}}
    libvirt_qemu.qemuMonitorCommand(dom, json.dumps(cmd), 0)


def run(names, reads, read, size):
    times = []
    lock = threading.Lock()

    def work(name):
        dom = libvirt.open("qemu:///system").lookupByName(name)
        for k in range(reads):
            t = time.monotonic()
            read(dom, k, size)
            with lock:
                times.append(time.monotonic() - t)

    t0 = time.monotonic()
    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return len(times) / wall, statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--domains", type=int, default=20)
    ap.add_argument("--reads", type=int, default=5)
    args = ap.parse_args()
    names = [f"vmpm-{i:02d}" for i in range(1, args.domains + 1)]
    conn = libvirt.open("qemu:///system")
    print(f"QEMU {conn.getVersion() // 1000000}.{conn.getVersion() // 1000 % 1000} / libvirt "
          f"{conn.getLibVersion() // 1000000}.{conn.getLibVersion() // 1000 % 1000}, "
          f"{len(names)} running guests")
    for label, read, size in (("virDomainMemoryPeek 64 KiB", peek, 65536),
                              ("QMP xp 64 KiB", xp, 65536), ("QMP xp 4 KiB", xp, 4096)):
        for group in (names[:1], names):
            rate, median = run(group, args.reads, read, size)
            print(f"{label:28s} {len(group):2d} domain(s) at once: {rate:6.1f} reads/s in all, "
                  f"median {median * 1000:6.0f} ms a read")


if __name__ == "__main__":
    main()
