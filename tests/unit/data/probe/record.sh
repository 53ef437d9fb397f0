#!/usr/bin/env bash
# Records what QEMU and libvirt really answer during measurements, for the unit tests' fakes
# (tests/unit/replay.hpp): the tool runs against fresh test guests with $VMP_RECORD_EXCHANGES
# set, and its transcripts land in tests/unit/data/probe/qemu-Q-libvirt-L/ for the stack
# installed now. Run as root, once on each stack (.ci/install-deps --stack stock|backports),
# and again whenever a stack changes:
#
#   tests/unit/data/probe/record.sh BUILD_DIR [SCENARIO...]   (none: all of them)
#
# Scenarios (each guest 1024 MiB, 256 MiB written at 5000 random pages/s, seed 1):
#   measure-qmp.jsonl      a fresh guest measured through QMP (the warm-up included)
#   measure-busy-qmp.jsonl the same guest, started 1 s into another client's 3 s calc-dirty-rate:
#                          the tool waits for its end (it ends within a quarter of the budget)
#   measure-interrupted-qmp.jsonl  the same guest, --measure-time 4s, SIGINT after 3 s: the
#                          tool waits out the period QEMU is measuring (exit status 130)
#   measure-blocked-qmp.jsonl  the same guest while another client measures for 60 s, with
#                          --measure-time 2s: the tool refuses at once (exit status 1)
#   measure-libvirt.jsonl  a second fresh guest measured with --no-qmp (libvirt's API)
#   measure-busy-libvirt.jsonl  the same, started 1 s into virsh domdirtyrate-calc measuring 3 s
#   measure-domain-qmp.jsonl  a third fresh guest, the whole measurement (the domain's XML, state,
#                          memory reads, vCPU times, settings: virt::RecordingLiveTarget) through
#                          QMP, with the profile the tool made of it (guest memory read through
#                          QEMU's monitor, xp, since 2026-12-05: {"libvirt": "xp"})
#   measure-domain-libvirt.jsonl  the same guest then, with --no-qmp (virDomainMemoryPeek)
#   measure-domain-aarch64-qmp.jsonl, measure-domain-aarch64-libvirt.jsonl  the same two on an
#                          aarch64 `virt` guest (VMP_GUEST_ARCH=aarch64, TCG): its RAM at 1 GiB
#                          in QEMU's map; without QMP, read from the virt machine's fixed map.
#                          In tests/unit/data/probe-aarch64/qemu-Q-libvirt-L/: another QEMU
#                          binary, whose schema the replays must not take for the x86 one's
#   measure-before-migration-qmp.jsonl, measure-incoming-qmp.jsonl  a fourth fresh guest (512 MiB,
#                          64 MiB written at 2000 random pages/s), measured for 3 s through QMP
#                          where it started (libvirt keeps no completed job for it), then migrated
#                          to bench/setup-destination.sh's daemon and measured there: libvirt's
#                          record of its incoming migration (scenario "incoming")
#   drain-hot.jsonl, drain-idle.jsonl  two guests (512 MiB: 12000 random pages/s over 128 MiB,
#                          and idle) measured together by --drain --link-speed 64MiB/s
#                          --concurrent 2, each one's whole measurement (scenario "drain")
#   measure-domain-fresh-4g-qmp.jsonl, measure-domain-again-4g-qmp.jsonl  a fresh 4 GiB guest
#                          (512 MiB written at 5000 random pages/s) measured twice through QMP
#                          with the defaults: the warm-up, then none (scenario "fresh-4g")
#   lend-arrived.jsonl, lend-started.jsonl  two guests (512 MiB: 2000 random pages/s over 64 MiB,
#                          and idle) measured together for 3 s at 64 MiB/s: the first came to
#                          this host by migration (to the destination daemon and back), the
#                          second was started here (scenario "lend")
# Not recorded by this script (QEMU 7.2 only; guest memory read through libvirt, as the tool did
# before 2026-12-05, which the tests replay): measure-domain-busy-*.jsonl are one
# domain each of 20 test guests (256 MiB, 2000 pages/s over 16 MiB: bench/many_domains.py's load)
# measured together with --all-running on a 2-core host the guests keep busy, kept with
# `bench/many_domains.py --keep-transcripts DIR --keep-guests`: QEMU's periods ran late. -skip:
# fresh guests (the first run, 2026-12-04: the warm-up started before the memory read), a
# planned period could not end in time; -fitted: guests measured before (2026-12-03), the periods
# fitted into the time left; -late: recorded by the tool before it fitted periods (a 2 s period
# QEMU had not ended when the time was up), replayed with no time to end by.
set -euo pipefail
build=${1:?usage: record.sh BUILD_DIR [SCENARIO...]}
shift
only=" $* "
# wanted SCENARIO...: whether any of them is to be recorded now.
wanted() {
  [[ $only == "  " ]] && return 0
  local s
  for s in "$@"; do [[ $only == *" $s "* ]] && return 0; done
  return 1
}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
tool=$(cd "$build" && pwd)/src/virt-migrate-predict
uri=qemu:///system
[[ $(id -u) -eq 0 ]] || { echo "record.sh: run as root" >&2; exit 2; }

stack=$(virsh -c $uri version | awk '
  /^Running hypervisor: QEMU/ {q = $4}
  /^Using library: libvirt/ {l = $4}
  END {print "qemu-" q "-libvirt-" l}')
out=$here/$stack
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"; "$root/tests/guest/stop-guest.sh" vmp-rec-a >/dev/null 2>&1 || true;
      "$root/tests/guest/stop-guest.sh" vmp-rec-b >/dev/null 2>&1 || true
      "$root/tests/guest/stop-guest.sh" vmp-rec-c >/dev/null 2>&1 || true
      "$root/tests/guest/stop-guest.sh" vmp-rec-d >/dev/null 2>&1 || true
      "$root/tests/guest/stop-guest.sh" vmp-rec-e >/dev/null 2>&1 || true
      "$root/tests/guest/stop-guest.sh" vmp-rec-f >/dev/null 2>&1 || true
      "$root/tests/guest/stop-guest.sh" vmp-rec-h >/dev/null 2>&1 || true
      "$root/tests/guest/stop-guest.sh" vmp-rec-j >/dev/null 2>&1 || true
      "$root/tests/guest/stop-guest.sh" vmp-rec-i >/dev/null 2>&1 || true' EXIT
mkdir -p "$out"
guest='{"mem_mib": 1024, "wss_mib": 256, "rate_pages_per_s": 5000, "pattern": "random"}'

# record SCENARIO EXPECTED-STATUSES DOMAIN TOOL-OPTIONS...: one run of the tool, its transcript
# kept as SCENARIO.
record() {
  local scenario=$1 expected=$2 domain=$3
  shift 3
  rm -f "$scratch/$domain.jsonl"
  local status=0
  VMP_RECORD_EXCHANGES=$scratch "$tool" -c "${record_uri:-$uri}" --domain "$domain" --bandwidth 1Gbit/s -q \
    --json "$@" >"$scratch/report.json" &
  local pid=$!
  if [[ -n ${interrupt_after:-} ]]; then sleep "$interrupt_after"; kill -INT $pid; fi
  wait $pid || status=$?
  [[ " $expected " == *" $status "* ]] ||
    { echo "record.sh: $scenario: the tool exited $status, not one of $expected" >&2; exit 1; }
  # The header says what the guest was doing, which the tests check the figures against.
  { head -n 1 "$scratch/$domain.jsonl" | jq -c --argjson g "$guest" --arg s "$scenario" \
      '. + {scenario: $s, guest: $g, recorded: (now | todate)}'
    tail -n +2 "$scratch/$domain.jsonl"; } >"$out/$scenario.jsonl"
  echo "record.sh: $out/$scenario.jsonl ($(wc -l <"$out/$scenario.jsonl") lines)" >&2
}

verdicts="0 3 4 5"

# keep_transcript DOMAIN SCENARIO MEM WSS RATE: the transcript of one domain of a run that
# measured several, kept as SCENARIO with what its guest was doing.
keep_transcript() {
  local domain=$1 scenario=$2 mem=$3 wss=$4 rate=$5
  local g="{\"mem_mib\": $mem, \"wss_mib\": $wss, \"rate_pages_per_s\": $rate, \"pattern\": \"random\"}"
  { head -n 1 "$scratch/$domain.jsonl" | jq -c --argjson g "$g" --arg s "$scenario" \
      '. + {scenario: $s, guest: $g, recorded: (now | todate)}'
    tail -n +2 "$scratch/$domain.jsonl"; } >"$out/$scenario.jsonl"
  echo "record.sh: $out/$scenario.jsonl ($(wc -l <"$out/$scenario.jsonl") lines)" >&2
}

# migrate_guest DOMAIN FROM-URI TO-URI FROM-LOG-DIR TO-LOG-DIR: a live migration as
# bench/bench.py runs one, the console log moved to a place the receiving daemon's QEMU can write.
migrate_guest() {
  local domain=$1 from=$2 to=$3 log_from=$4 log_to=$5
  virsh -c "$from" dumpxml --migratable "$domain" |
    sed "s#$log_from/$domain.console.log#$log_to/$domain.console.log#" >"$scratch/$domain.xml"
  chmod 644 "$scratch/$domain.xml"
  chmod 755 "$scratch"
  virsh -c "$from" migrate --live "$domain" "$to" --migrateuri tcp://127.0.0.1 \
    --xml "$scratch/$domain.xml"
}
source_logs=/var/lib/libvirt/vmp-guest/logs
dest_logs=/home/vmpdest/bench
if wanted measure-qmp measure-busy-qmp measure-interrupted-qmp measure-blocked-qmp; then
"$root/tests/guest/start-guest.sh" vmp-rec-a 1024 256 5000 random 1 >/dev/null
record measure-qmp "$verdicts" vmp-rec-a
virsh -c $uri qemu-monitor-command vmp-rec-a \
  '{"execute":"calc-dirty-rate","arguments":{"calc-time":3}}' >/dev/null
# A second on, it surely ends within the wait: QEMU 7.2's start-time is whole seconds, and the
# tool allows a second more for its flooring (1.7 s left + 1 s, over the 2.1 s allowed, once).
sleep 1
record measure-busy-qmp "$verdicts" vmp-rec-a
interrupt_after=3 record measure-interrupted-qmp 130 vmp-rec-a --measure-time 4s
sleep 2
virsh -c $uri qemu-monitor-command vmp-rec-a \
  '{"execute":"calc-dirty-rate","arguments":{"calc-time":60}}' >/dev/null
record measure-blocked-qmp 1 vmp-rec-a --measure-time 2s
"$root/tests/guest/stop-guest.sh" vmp-rec-a
fi

if wanted measure-libvirt measure-busy-libvirt; then
"$root/tests/guest/start-guest.sh" vmp-rec-b 1024 256 5000 random 1 >/dev/null
record measure-libvirt "$verdicts" vmp-rec-b --no-qmp
virsh -c $uri domdirtyrate-calc vmp-rec-b --seconds 3 >/dev/null
sleep 1  # as for measure-busy-qmp
record measure-busy-libvirt "$verdicts" vmp-rec-b --no-qmp
"$root/tests/guest/stop-guest.sh" vmp-rec-b
fi

if wanted measure-domain-qmp measure-domain-libvirt; then
"$root/tests/guest/start-guest.sh" vmp-rec-c 1024 256 5000 random 1 >/dev/null
record measure-domain-qmp "$verdicts" vmp-rec-c
record measure-domain-libvirt "$verdicts" vmp-rec-c --no-qmp
"$root/tests/guest/stop-guest.sh" vmp-rec-c
fi

if wanted fresh-4g; then
# A fresh 4 GiB guest (512 MiB written at 5000 random pages/s) measured twice with the
# defaults: QEMU's first measurement in the process (the warm-up) and the hashing of 65536
# sampled pages at each end of each period are what such a guest adds. The warm-up is slow (6-8 s)
# only with this machine's memory as it is (not after bench/host_memory.py warm: 0.56 s): QEMU's
# first reads of the memory the guest never used are backed with new pages by this machine's
# kernel, each first touched in the outer host.
guest_before=$guest
guest='{"mem_mib": 4096, "wss_mib": 512, "rate_pages_per_s": 5000, "pattern": "random"}'
"$root/tests/guest/start-guest.sh" vmp-rec-j 4096 512 5000 random 1 >/dev/null
record measure-domain-fresh-4g-qmp "$verdicts" vmp-rec-j
record measure-domain-again-4g-qmp "$verdicts" vmp-rec-j
"$root/tests/guest/stop-guest.sh" vmp-rec-j
guest=$guest_before
fi

if wanted measure-domain-aarch64-qmp measure-domain-aarch64-libvirt; then
VMP_GUEST_ARCH=aarch64 "$root/tests/guest/start-guest.sh" vmp-rec-f 1024 256 5000 random 1 >/dev/null
guest_x86=$guest out_x86=$out
mv -n "$scratch"/*-*.json "$out"/ 2>/dev/null || true  # the x86 binary's schema, recorded before
guest='{"mem_mib": 1024, "wss_mib": 256, "rate_pages_per_s": 5000, "pattern": "random", "arch": "aarch64"}'
out=$here/../probe-aarch64/$stack
mkdir -p "$out"
record measure-domain-aarch64-qmp "$verdicts" vmp-rec-f
record measure-domain-aarch64-libvirt "$verdicts" vmp-rec-f --no-qmp
mv -n "$scratch"/*-*.json "$out"/ 2>/dev/null || true
rm -f "$scratch"/*-*.json  # kept there already
guest=$guest_x86 out=$out_x86
"$root/tests/guest/stop-guest.sh" vmp-rec-f
fi

if wanted incoming; then
guest_before=$guest
guest='{"mem_mib": 512, "wss_mib": 64, "rate_pages_per_s": 2000, "pattern": "random"}'
"$root/tests/guest/start-guest.sh" vmp-rec-g 512 64 2000 random 1 >/dev/null
record measure-before-migration-qmp "$verdicts" vmp-rec-g --measure-time 3s
dest=$("$root/bench/setup-destination.sh")
migrate_guest vmp-rec-g $uri "$dest" $source_logs $dest_logs
virsh -c "$dest" domjobinfo --completed --keep-completed vmp-rec-g >&2
record_uri=$dest record measure-incoming-qmp "$verdicts" vmp-rec-g --measure-time 3s
virsh -c "$dest" destroy vmp-rec-g >/dev/null
virsh -c "$dest" undefine vmp-rec-g >/dev/null 2>&1 || true
guest=$guest_before
fi

if wanted drain; then
# Two guests measured together for a drain plan over 64 MiB/s, 2 at once: one writing 12000
# pages/s over 128 MiB (more than half the link: it converges once the other is done), one idle.
"$root/tests/guest/start-guest.sh" vmp-rec-d 512 128 12000 random 1 >/dev/null
"$root/tests/guest/start-guest.sh" vmp-rec-e 512 64 0 random 1 >/dev/null
rm -f "$scratch/vmp-rec-d.jsonl" "$scratch/vmp-rec-e.jsonl"
status=0
VMP_RECORD_EXCHANGES=$scratch "$tool" -c $uri --drain --domain vmp-rec-d --domain vmp-rec-e \
  --link-speed 64MiB/s --concurrent 2 -q --json >"$scratch/drain.json" || status=$?
[[ $status -eq 0 ]] || { echo "record.sh: drain: the tool exited $status" >&2; exit 1; }
keep_transcript vmp-rec-d drain-hot 512 128 12000
keep_transcript vmp-rec-e drain-idle 512 64 0
"$root/tests/guest/stop-guest.sh" vmp-rec-d
"$root/tests/guest/stop-guest.sh" vmp-rec-e
fi

if wanted lend; then
# Two guests measured together for 3 s: one that came to this host by migration (to the
# destination daemon and back, as bench/bench.py --arrived), whose libvirt steps the host's
# record gives, and one started here, which has none of its own.
dest=$("$root/bench/setup-destination.sh")
"$root/tests/guest/start-guest.sh" vmp-rec-h 512 64 2000 random 1 >/dev/null
"$root/tests/guest/start-guest.sh" vmp-rec-i 512 64 0 random 1 >/dev/null
migrate_guest vmp-rec-h $uri "$dest" $source_logs $dest_logs
migrate_guest vmp-rec-h "$dest" $uri $dest_logs $source_logs
virsh -c $uri domjobinfo --completed --keep-completed vmp-rec-h >&2
rm -f "$scratch/vmp-rec-h.jsonl" "$scratch/vmp-rec-i.jsonl"
status=0
VMP_RECORD_EXCHANGES=$scratch "$tool" -c $uri --domain vmp-rec-h --domain vmp-rec-i \
  --measure-time 3s --bandwidth 64MiB/s -q --json >"$scratch/lend.json" || status=$?
[[ " $verdicts " == *" $status "* ]] || { echo "record.sh: lend: the tool exited $status" >&2; exit 1; }
keep_transcript vmp-rec-h lend-arrived 512 64 2000
keep_transcript vmp-rec-i lend-started 512 64 0
"$root/tests/guest/stop-guest.sh" vmp-rec-h
"$root/tests/guest/stop-guest.sh" vmp-rec-i
fi

# Large replies (QEMU's schema) are stored once, by content.
mv -n "$scratch"/*-*.json "$out"/ 2>/dev/null || true
ls -l "$out" >&2
