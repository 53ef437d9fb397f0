#!/usr/bin/env bash
# Destroy the transient test guest NAME; succeeds if it does not exist.
#   tests/guest/stop-guest.sh NAME
set -euo pipefail
if [[ $# -ne 1 ]]; then
    echo "usage: $0 NAME" >&2
    exit 2
fi
URI=${LIBVIRT_URI:-qemu:///system}
if virsh -c "$URI" domstate "$1" >/dev/null 2>&1; then
    virsh -c "$URI" destroy "$1" >/dev/null 2>&1 || true
    # a persistent domain of the same name (not created by start-guest.sh) is left defined
fi
exit 0
