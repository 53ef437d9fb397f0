#!/usr/bin/env bash
# Records QEMU's answers to HMP `xp` (through QMP's human-monitor-command), which the zero-page
# sample reads guest memory with (virt/memory_dump.hpp), for the unit tests of virt::parse_xp: a
# zero page, a page holding data, a page with one word that is not zero, and an address outside
# RAM. Also the zero/non-zero layout of the whole guest's RAM (QMP pmemsave to a file, read here),
# as runs: the first page's kind (1 zero, 0 data), then the lengths of the runs in pages, for the
# tests of the sampler on a real guest's memory. The test guest: 512 MiB, 64 MiB written at boot,
# no load (bench/bench.py's "idle"). Run as root, once on each stack
# (.ci/install-deps --stack stock|backports):
#
#   tests/unit/data/xp/record.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
uri=qemu:///system
[[ $(id -u) -eq 0 ]] || { echo "record.sh: run as root" >&2; exit 2; }
qemu=$(virsh -c $uri version | awk '/^Running hypervisor: QEMU/ {print $4}')
dump=$(mktemp -d)
chmod 777 "$dump"
trap '"$root/tests/guest/stop-guest.sh" vmp-xp >/dev/null 2>&1 || true; rm -rf "$dump"' EXIT
"$root/tests/guest/start-guest.sh" vmp-xp 512 64 0 random 1 >/dev/null

xp() {
  virsh -c $uri qemu-monitor-command vmp-xp \
    "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"xp /512gx $1\"}}"
}
# Words of a page that are not zero.
nonzero() { xp "$1" | grep -o '0x[0-9a-f]\{16\}' | grep -vc '0x0000000000000000' || true; }

virsh -c $uri qemu-monitor-command vmp-xp \
  "{\"execute\":\"pmemsave\",\"arguments\":{\"val\":0,\"size\":$((512 << 20)),\"filename\":\"$dump/ram\"}}" >/dev/null
python3 - "$dump/ram" "$here/qemu-$qemu-idle-512m.runs" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
zero = bytes(4096)
bits = ["1" if data[i:i + 4096] == zero else "0" for i in range(0, len(data), 4096)]
runs, n = [], 1
for a, b in zip(bits, bits[1:]):
    if a == b:
        n += 1
    else:
        runs.append(n)
        n = 1
runs.append(n)
with open(sys.argv[2], "w") as f:
    f.write(bits[0] + "\n" + " ".join(map(str, runs)) + "\n")
print(f"{sys.argv[2]}: {bits.count('1')} of {len(bits)} pages zero, {len(runs)} runs")
PY
# The first page from 1 MiB up of each kind, one page (4 KiB) a step.
zero= data= one=
for ((a = 0x100000; a < 0x8000000; a += 0x1000)); do
  n=$(nonzero $(printf '0x%x' $a))
  [[ -z $zero && $n -eq 0 ]] && zero=$a
  [[ -z $data && $n -ge 400 ]] && data=$a
  [[ -z $one && $n -eq 1 ]] && one=$a
  [[ -n $zero && -n $data && -n $one ]] && break
done
[[ -n $zero && -n $data && -n $one ]] || { echo "record.sh: no page of each kind" >&2; exit 1; }
xp $(printf '0x%x' $zero) >"$here/qemu-$qemu-zero-page.json"
xp $(printf '0x%x' $data) >"$here/qemu-$qemu-data-page.json"
xp $(printf '0x%x' $one) >"$here/qemu-$qemu-one-word-page.json"
xp 0x300000000 >"$here/qemu-$qemu-outside-ram.json"
echo "recorded in $here: QEMU $qemu, pages at $(printf '0x%x 0x%x 0x%x' $zero $data $one)"
