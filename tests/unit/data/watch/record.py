#!/usr/bin/python3
"""Records a real migration of the test guest as the watch sees it, for the unit tests: every
200 ms, libvirt's job statistics (virDomainGetJobStats) and QEMU's query-migrate, as returned,
and libvirt's job-completed and lifecycle events. JSON lines: a header (with the domain's XML and
QEMU's migration capabilities as they were before the migration), then
{"t_ms", "job", "query_migrate"} samples and {"t_ms", "event", ...} lines.

  record.py OUT.jsonl NAME qmp|libvirt SPEED_MIB DOWNTIME_MS DURATION_S [AT_S ACTION VALUE]...

ACTION: abort, setspeed MIB, setdowntime MS (through libvirt, as an operator would). The guest
NAME runs already (tests/guest/start-guest.sh); a QMP migration goes to a destination QEMU
started here with the source's command line and -incoming, a libvirt one to
bench/setup-destination.sh's daemon. Run as root, holding /tmp/vmp-vm.lock. Leaves the source
as it was when the migration fails or is cancelled; after a QMP migration resumes it (cont)."""
import json, os, socket, subprocess, sys, tempfile, threading, time
import libvirt, libvirt_qemu

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))
libvirt.registerErrorHandler(lambda _c, _e: None, None)
libvirt.virEventRegisterDefaultImpl()
threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)],
                 daemon=True).start()

out_path, name, mode = sys.argv[1], sys.argv[2], sys.argv[3]
speed, downtime, duration = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
actions = [(float(sys.argv[i]), sys.argv[i + 1], sys.argv[i + 2] if sys.argv[i + 1] != "abort" else None)
           for i in range(7, len(sys.argv), 3)]
conn = libvirt.open("qemu:///system")
dom = conn.lookupByName(name)
lines, t0 = [], None


def now_ms():
    return round((time.monotonic() - t0) * 1000) if t0 else 0


def on_job(_c, _d, params, _o):
    lines.append({"t_ms": now_ms(), "event": "job-completed", "stats": params})


def on_life(_c, _d, event, detail, _o):
    lines.append({"t_ms": now_ms(), "event": "lifecycle", "type": event, "detail": detail})


conn.domainEventRegisterAny(dom, libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, on_job, None)
conn.domainEventRegisterAny(dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_life, None)


def qmp(cmd, args=None):
    req = {"execute": cmd}
    if args is not None:
        req["arguments"] = args
    return json.loads(libvirt_qemu.qemuMonitorCommand(dom, json.dumps(req), 0)).get("return")


# What --watch reads of the domain before it follows the migration: its XML, and QEMU's
# migration capabilities (post-copy allowed or not).
domain_xml = dom.XMLDesc(0)
capabilities = qmp("query-migrate-capabilities")

dest = proc = dest_uri = None
if mode == "qmp":
    pid = int(open(f"/run/libvirt/qemu/{name}.pid").read())
    src = [a.decode() for a in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:-1]]
    tmp = tempfile.mkdtemp(prefix="vmp-record.")
    argv, i = [], 0
    while i < len(src):
        a = src[i]
        if a == "-add-fd" or (a == "-object" and '"secret"' in src[i + 1]):
            i += 2
            continue
        if a == "-chardev" and src[i + 1].startswith("socket,id=charmonitor"):
            argv += [a, f"socket,id=charmonitor,path={tmp}/qmp.sock,server=on,wait=off"]
        elif a == "-chardev" and "charserial0" in src[i + 1]:
            argv += [a, "null,id=charserial0"]
        elif a == "-name":
            argv += [a, f"guest={name}-dest"]
        else:
            argv.append(a)
            i += 1
            continue
        i += 2
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    dest = subprocess.Popen(argv + ["-incoming", f"tcp:127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    qmp("migrate-set-parameters", {"max-bandwidth": speed << 20, "downtime-limit": downtime})
    t0 = time.monotonic()
    qmp("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
else:
    dest_uri = subprocess.run([ROOT + "/bench/setup-destination.sh"], capture_output=True,
                              text=True, check=True).stdout.strip()
    dom.migrateSetMaxSpeed(speed, 0)
    dom.migrateSetMaxDowntime(downtime, 0)
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE).replace(
        f"/var/lib/libvirt/vmp-guest/logs/{name}.console.log",
        f"/home/vmpdest/bench/{name}.console.log")
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False, dir="/tmp") as f:
        f.write(xml)
    os.chmod(f.name, 0o644)
    t0 = time.monotonic()
    proc = subprocess.Popen(["virsh", "-c", "qemu:///system", "migrate", "--live", name, dest_uri,
                             "--migrateuri", "tcp://127.0.0.1", "--xml", f.name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

tail = 0
while time.monotonic() - t0 < duration and tail < 5:
    while actions and time.monotonic() - t0 >= actions[0][0]:
        _, action, value = actions.pop(0)
        lines.append({"t_ms": now_ms(), "event": action, "value": value})
        if action == "abort":
            if mode == "qmp":
                qmp("migrate_cancel")
            else:
                dom.abortJob()
        elif action == "setspeed":
            dom.migrateSetMaxSpeed(int(value), 0)
        elif action == "setdowntime":
            dom.migrateSetMaxDowntime(int(value), 0)
    rec = {"t_ms": now_ms()}
    try:
        rec["job"] = dom.jobStats(0)
    except libvirt.libvirtError as e:
        rec["job"] = None
        rec["job_error"] = str(e)
    try:
        rec["query_migrate"] = qmp("query-migrate")
    except libvirt.libvirtError as e:
        rec["query_migrate"] = None
        rec["qmp_error"] = str(e)
    lines.append(rec)
    status = (rec["query_migrate"] or {}).get("status")
    if status in ("completed", "failed", "cancelled") or rec["job"] is None:
        tail += 1  # a few samples of the end
    time.sleep(max(0, 0.2 - (time.monotonic() - t0 - rec["t_ms"] / 1000)))

if proc:
    proc.communicate()
    os.unlink(f.name)
    try:
        libvirt.open(dest_uri).lookupByName(name).destroy()
    except libvirt.libvirtError:
        pass
if dest:
    dest.kill()
    dest.wait()
    try:
        qmp("cont")
    except libvirt.libvirtError:
        pass
header = {"recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "domain": name,
          "run_by": mode, "speed_mib_s": speed, "downtime_ms": downtime, "interval_ms": 200,
          "qemu": conn.getVersion(), "libvirt": conn.getLibVersion(),
          "domain_xml": domain_xml, "migrate_capabilities": capabilities}
with open(out_path, "w") as f:
    f.write(json.dumps(header) + "\n")
    for line in sorted(lines, key=lambda r: r["t_ms"]):
        f.write(json.dumps(line, sort_keys=True) + "\n")
print(f"record.py: {len(lines)} lines to {out_path}", file=sys.stderr)
