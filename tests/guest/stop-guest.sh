#!/usr/bin/env bash
# Destroy the test guest NAME (and undefine it with VMP_GUEST_PERSISTENT); succeeds if it
# does not exist.
#   tests/guest/stop-guest.sh NAME
set -euo pipefail
if [[ $# -ne 1 ]]; then
    echo "usage: $0 NAME" >&2
    exit 2
fi
URI=${LIBVIRT_URI:-qemu:///system}
if virsh -c "$URI" domstate "$1" >/dev/null 2>&1; then
    virsh -c "$URI" destroy "$1" >/dev/null 2>&1 || true
    # start-guest.sh with VMP_GUEST_PERSISTENT defined it: undefine it too
    if [[ -n ${VMP_GUEST_PERSISTENT:-} ]]; then
        virsh -c "$URI" undefine "$1" >/dev/null 2>&1 || true
    fi
fi
exit 0
