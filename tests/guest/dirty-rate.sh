#!/usr/bin/env bash
# Measure a guest's dirty rate with QEMU's page-sampling mode (the only mode
# usable under TCG: dirty-bitmap / dirty-ring crash QEMU 7.2 without KVM).
#   tests/guest/dirty-rate.sh NAME [CALC_TIME_S=1] [SAMPLE_PAGES_PER_GIB=4096]
# Prints the dirty rate in MiB/s (integer, truncated by QEMU).
# NOTE: the first measurement after a guest boots reads low; discard it.
set -euo pipefail
NAME=$1 T=${2:-1} S=${3:-4096}
URI=${LIBVIRT_URI:-qemu:///system}
virsh -c "$URI" qemu-monitor-command "$NAME" \
    "{\"execute\":\"calc-dirty-rate\",\"arguments\":{\"calc-time\":$T,\"sample-pages\":$S}}" >/dev/null
deadline=$(( $(date +%s) + T + 30 ))
while :; do
    r=$(virsh -c "$URI" qemu-monitor-command "$NAME" '{"execute":"query-dirty-rate"}')
    if [[ $r == *'"measured"'* ]]; then
        r=${r#*\"dirty-rate\":}
        echo "${r%%[,\}]*}"
        exit 0
    fi
    (( $(date +%s) < deadline )) || { echo "dirty-rate.sh: timeout: $r" >&2; exit 1; }
    sleep 0.2
done
