#!/usr/bin/python3
"""Auto-converge: the tool's prediction against real libvirt migrations with --auto-converge.

For each case RATE:SPEED (page writes/s over a 64 MiB random working set in a 512 MiB test
guest, migration cap in MiB/s, max downtime 300 ms): boot the guest, predict with
--allow-auto-converge and the cap as the most bandwidth allowed, then migrate for real with
`virsh migrate --live --auto-converge` to bench/setup-destination.sh's daemon, polling QEMU's
query-migrate for the throttle steps (cpu-throttle-percentage) and the total time. A migration
still running after 300 s is aborted. One JSON line per case on stdout.

Run as root, under the VM lock, on a quiet machine:
  flock /tmp/vmp-vm.lock bench/autoconverge.py 30000:32 100000:64 20000:16
"""
import json, os, subprocess, sys, time, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import atexit, bench, host_memory, libvirt, libvirt_qemu
if host_memory.warm():
    atexit.register(host_memory.restore)
libvirt.registerErrorHandler(lambda _c, _e: None, None)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = bench.TOOL  # $VMP_TOOL, else build/src/virt-migrate-predict
dest_uri = bench.run([os.path.join(ROOT, "bench", "setup-destination.sh")]).stdout.strip()
src = libvirt.open("qemu:///system"); dst = libvirt.open(dest_uri)
cases = [(a) for a in sys.argv[1:]] or ["30000:32"]
for case in cases:
    rate, speed = map(int, case.split(":"))
    name = "vmpbench-ac"
    bench.stop_guest(name, dst)
    bench.start_guest(name, 512, 64, rate, "random", 1)
    try:
        dom = src.lookupByName(name)
        dom.migrateSetMaxSpeed(speed, 0); dom.migrateSetMaxDowntime(300, 0)
        time.sleep(2)
        r = subprocess.run([TOOL, "-c", "qemu:///system", "-d", name, "--json", "-q",
                            "--allow-auto-converge", "--max-downtime", "300",
                            "--max-bandwidth", f"{speed}MiB/s", "--deadline", "300s"],
                           capture_output=True, text=True)
        rep = json.loads(r.stdout)
        ac = rep["advice"]["auto_converge"]
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE).replace(
            f"/var/lib/libvirt/vmp-guest/logs/{name}.console.log", f"/home/vmpdest/bench/{name}.console.log")
        with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False, dir="/tmp") as f:
            f.write(xml); xp = f.name
        os.chmod(xp, 0o644)
        t0 = time.monotonic()
        p = subprocess.Popen(["virsh", "-c", "qemu:///system", "migrate", "--live", "--auto-converge",
                              name, dest_uri, "--migrateuri", "tcp://127.0.0.1", "--xml", xp],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        last = {}; throttle_seen = []
        while p.poll() is None:
            try:
                q = json.loads(libvirt_qemu.qemuMonitorCommand(dom, '{"execute":"query-migrate"}', 0))["return"]
                last = q
                tp = q.get("cpu-throttle-percentage")
                if tp is not None and (not throttle_seen or throttle_seen[-1][1] != tp):
                    throttle_seen.append((q.get("total-time"), tp))
            except libvirt.libvirtError:
                pass
            if time.monotonic() - t0 > 300:
                subprocess.run(["virsh", "domjobabort", name]); break
            time.sleep(0.05)
        out, err = p.communicate()
        stats = {}
        try: stats = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        except libvirt.libvirtError: pass
        print(json.dumps({"case": case, "rc": p.returncode, "err": err.strip()[-200:],
              "predicted_plain": rep["prediction"]["converges"], "vcpu_busy": rep["guest"].get("vcpu_busy_fraction"),
              "predicted_ac": None if ac is None else {k: ac["prediction"][k] for k in ("total_time_ms","downtime_ms","final_throttle_pct","throttle_started_ms","throttled_ms","iterations")},
              "real_total_ms": last.get("total-time"), "real_status": last.get("status"),
              "real_downtime_ms": stats.get("downtime"), "real_throttle_steps": throttle_seen,
              "real_auto_converge_throttle": stats.get("auto_converge_throttle"),
              "real_iterations": stats.get("memory_iteration")}), flush=True)
    finally:
        bench.stop_guest(name, dst)
