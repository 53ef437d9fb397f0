#!/usr/bin/env bash
# shellcheck disable=SC2012  # ls on our own, well-named .deb/boot files
# Build the virt-migrate-predict test guest: OUTDIR/vmlinuz + OUTDIR/initramfs.img.
#
#   tests/guest/build.sh OUTDIR
#
# Kernel: Debian's linux-image-<ver>-amd64 (version taken from the
# linux-image-amd64 metapackage), fetched with `apt-get download` and unpacked
# with `dpkg -x` (never installed). Everything the guest needs (8250 serial
# console, devtmpfs, gzip initramfs) is built into the Debian kernel, so no
# module is copied.
# Initramfs: busybox-static + /init + the static load program (load.c).
#
# Idempotent: the kernel is fetched once (cached in OUTDIR/cache; set
# VMP_GUEST_REBUILD_KERNEL=1 to refetch), the initramfs is rebuilt only when
# load.c, init or this script are newer than it.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
OUTDIR=$(cd "$1" && pwd)
CACHE=$OUTDIR/cache
mkdir -p "$CACHE"
# qemu (libvirt-qemu user under qemu:///system) must be able to read the outputs.
chmod 0755 "$OUTDIR" "$CACHE"
umask 022

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vmp-guest-build.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

log() { echo "build.sh: $*" >&2; }

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_update_once() {
    if [[ $apt_updated -eq 0 ]]; then
        log "apt-get update"
        as_root apt-get update -qq >&2 || true
        apt_updated=1
    fi
}

# apt_download PKG -> path of the .deb in $CACHE (cached)
apt_download() {
    local pkg=$1 deb
    deb=$(ls -1 "$CACHE/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n1 || true)
    if [[ -n $deb ]]; then
        echo "$deb"
        return 0
    fi
    log "apt-get download $pkg"
    if ! (cd "$CACHE" && apt-get download "$pkg" >&2 2>"$TMP/dl.err"); then
        apt_update_once
        (cd "$CACHE" && apt-get download "$pkg" >&2) || {
            cat "$TMP/dl.err" >&2
            log "ERROR: apt-get download $pkg failed"
            return 1
        }
    fi
    ls -1 "$CACHE/${pkg}_"*.deb | sort -V | tail -n1
}

# ---------------------------------------------------------------- kernel
resolve_kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}

if [[ ! -s $OUTDIR/vmlinuz || ${VMP_GUEST_REBUILD_KERNEL:-0} == 1 ]]; then
    KPKG=$(resolve_kernel_pkg)
    if [[ -z $KPKG ]]; then
        apt_update_once
        KPKG=$(resolve_kernel_pkg)
    fi
    if [[ -z $KPKG ]]; then
        log "ERROR: cannot resolve the kernel package from linux-image-amd64 (apt-cache depends)"
        exit 1
    fi
    [[ ${VMP_GUEST_REBUILD_KERNEL:-0} == 1 ]] && rm -f "$CACHE/${KPKG}_"*.deb
    KDEB=$(apt_download "$KPKG")
    log "extracting $(basename "$KDEB")"
    mkdir -p "$TMP/kernel"
    dpkg -x "$KDEB" "$TMP/kernel"
    KIMG=$(ls -1 "$TMP"/kernel/boot/vmlinuz-* | head -n1)
    KCONF=$(ls -1 "$TMP"/kernel/boot/config-* | head -n1)
    for opt in CONFIG_SERIAL_8250_CONSOLE CONFIG_DEVTMPFS CONFIG_BLK_DEV_INITRD CONFIG_RD_GZIP CONFIG_PROC_FS; do
        if ! grep -q "^$opt=y" "$KCONF"; then
            log "ERROR: $opt is not built into $(basename "$KIMG"); the guest will not boot"
            exit 1
        fi
    done
    install -m 0644 "$KIMG" "$OUTDIR/vmlinuz.tmp"
    rm -f "$KDEB"  # only needed once; the extracted kernel is the cache
    mv -f "$OUTDIR/vmlinuz.tmp" "$OUTDIR/vmlinuz"
    basename "$KIMG" | sed 's/^vmlinuz-//' > "$OUTDIR/kernel-version"
    log "kernel $(cat "$OUTDIR/kernel-version") -> $OUTDIR/vmlinuz"
else
    log "kernel up to date ($OUTDIR/vmlinuz)"
fi

# ---------------------------------------------------------------- initramfs
need_initramfs=0
if [[ ! -s $OUTDIR/initramfs.img ]]; then
    need_initramfs=1
else
    for src in "$HERE/load.c" "$HERE/init" "$HERE/build.sh"; do
        [[ $src -nt $OUTDIR/initramfs.img ]] && need_initramfs=1
    done
fi

if [[ $need_initramfs -eq 1 ]]; then
    # busybox-static from the Debian archive (unpacked, not installed)
    BUSYBOX=
    if BBDEB=$(apt_download busybox-static); then
        mkdir -p "$TMP/bb"
        dpkg -x "$BBDEB" "$TMP/bb"
        BUSYBOX=$(ls -1 "$TMP"/bb/bin/busybox "$TMP"/bb/usr/bin/busybox 2>/dev/null | head -n1 || true)
    fi
    if [[ -z $BUSYBOX ]] && [[ -x /bin/busybox ]] && file -L /bin/busybox | grep -q 'statically linked'; then
        log "falling back to the host's static /bin/busybox"
        BUSYBOX=/bin/busybox
    fi
    [[ -n $BUSYBOX ]] || { log "ERROR: no static busybox available"; exit 1; }

    if ! command -v gcc >/dev/null || [[ ! -e /usr/lib/x86_64-linux-gnu/libc.a ]]; then
        log "installing gcc libc6-dev"
        apt_update_once
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >&2
    fi

    R=$TMP/root
    mkdir -p "$R"/{bin,dev,proc,sys,tmp,etc}
    install -m 0755 "$BUSYBOX" "$R/bin/busybox"
    ln -s busybox "$R/bin/sh"
    gcc -static -O2 -Wall -o "$R/bin/load" "$HERE/load.c"
    strip "$R/bin/load" 2>/dev/null || true
    install -m 0755 "$HERE/init" "$R/init"
    # /init opens /dev/console itself after mounting devtmpfs; the node in the
    # archive only lets the kernel print to it before that (root only).
    if [[ $(id -u) -eq 0 ]]; then mknod -m 0600 "$R/dev/console" c 5 1 || true; fi

    (
        cd "$R"
        if command -v cpio >/dev/null && cpio --version 2>/dev/null | grep -q GNU; then
            find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet
        else
            find . -mindepth 1 | LC_ALL=C sort | "$R/bin/busybox" cpio -o -H newc -R 0:0
        fi
    ) | gzip -9 -n > "$OUTDIR/initramfs.img.tmp"
    chmod 0644 "$OUTDIR/initramfs.img.tmp"
    mv -f "$OUTDIR/initramfs.img.tmp" "$OUTDIR/initramfs.img"
    log "initramfs -> $OUTDIR/initramfs.img ($(stat -c %s "$OUTDIR/initramfs.img") bytes)"
else
    log "initramfs up to date ($OUTDIR/initramfs.img)"
fi

echo "$OUTDIR/vmlinuz"
echo "$OUTDIR/initramfs.img"
