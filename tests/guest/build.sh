#!/usr/bin/env bash
# shellcheck disable=SC2012  # ls on our own, well-named .deb/boot files
# Build the virt-migrate-predict test guest: OUTDIR/vmlinuz + OUTDIR/initramfs.img.
#
#   tests/guest/build.sh OUTDIR
#   VMP_GUEST_ARCH=aarch64 tests/guest/build.sh OUTDIR   -> OUTDIR/aarch64/{vmlinuz,initramfs.img}
#
# Kernel: Debian's linux-image-<ver>-amd64 (version taken from the
# linux-image-amd64 metapackage), fetched with `apt-get download` and unpacked
# with `dpkg -x` (never installed). Everything the guest needs (8250 serial
# console, devtmpfs, gzip initramfs) is built into the Debian kernel, so no
# module is copied.
# Initramfs: busybox-static + /init + the static load program (load.c).
# aarch64 (VMP_GUEST_ARCH=aarch64, a `virt` machine under TCG): the same from Debian's arm64
# packages (linux-image-arm64, busybox-static:arm64; dpkg must know the arm64 architecture:
# .ci/install-deps adds it), the load program cross-compiled with gcc-aarch64-linux-gnu; the
# console is the PL011 (ttyAMA0), built into Debian's arm64 kernel.
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
ARCH=${VMP_GUEST_ARCH:-x86_64}
case $ARCH in
    x86_64)
        DEBARCH=amd64 PKG_SUFFIX='' SUBDIR='' CC=gcc STRIP=strip
        LIBC_A=/usr/lib/x86_64-linux-gnu/libc.a TOOLCHAIN=(gcc libc6-dev)
        CONSOLE_OPTION=CONFIG_SERIAL_8250_CONSOLE ;;
    aarch64)
        DEBARCH=arm64 PKG_SUFFIX=:arm64 SUBDIR=/aarch64 CC=aarch64-linux-gnu-gcc
        STRIP=aarch64-linux-gnu-strip LIBC_A=/usr/aarch64-linux-gnu/lib/libc.a
        TOOLCHAIN=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
        CONSOLE_OPTION=CONFIG_SERIAL_AMBA_PL011_CONSOLE ;;
    *)
        echo "build.sh: VMP_GUEST_ARCH is x86_64 or aarch64, not '$ARCH'" >&2
        exit 2 ;;
esac
if [[ $DEBARCH != "$(dpkg --print-architecture)" ]] &&
    ! dpkg --print-foreign-architectures | grep -qx "$DEBARCH"; then
    echo "build.sh: dpkg does not know the $DEBARCH architecture, so its kernel and busybox cannot be downloaded: run .ci/install-deps (or dpkg --add-architecture $DEBARCH && apt-get update)" >&2
    exit 1
fi
mkdir -p "$1$SUBDIR"
OUTDIR=$(cd "$1$SUBDIR" && pwd)
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

# apt_download PKG[:ARCH] -> path of the .deb in $CACHE (cached)
apt_download() {
    local pkg=$1 deb
    deb=$(ls -1 "$CACHE/${pkg%%:*}_"*.deb 2>/dev/null | sort -V | tail -n1 || true)
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
    ls -1 "$CACHE/${pkg%%:*}_"*.deb | sort -V | tail -n1
}

# ---------------------------------------------------------------- kernel
resolve_kernel_pkg() {
    apt-cache depends "linux-image-$DEBARCH$PKG_SUFFIX" 2>/dev/null |
        awk -v a="$DEBARCH" '$1 == "Depends:" && $2 ~ ("^linux-image-[0-9].*-" a "(:" a ")?$") { print $2; exit }'
}

if [[ ! -s $OUTDIR/vmlinuz || ${VMP_GUEST_REBUILD_KERNEL:-0} == 1 ]]; then
    KPKG=$(resolve_kernel_pkg)
    if [[ -z $KPKG ]]; then
        apt_update_once
        KPKG=$(resolve_kernel_pkg)
    fi
    if [[ -z $KPKG ]]; then
        log "ERROR: cannot resolve the kernel package from linux-image-$DEBARCH$PKG_SUFFIX (apt-cache depends)"
        exit 1
    fi
    [[ ${VMP_GUEST_REBUILD_KERNEL:-0} == 1 ]] && rm -f "$CACHE/${KPKG%%:*}_"*.deb
    KDEB=$(apt_download "$KPKG")
    log "extracting $(basename "$KDEB")"
    mkdir -p "$TMP/kernel"
    dpkg -x "$KDEB" "$TMP/kernel"
    KIMG=$(ls -1 "$TMP"/kernel/boot/vmlinuz-* | head -n1)
    KCONF=$(ls -1 "$TMP"/kernel/boot/config-* | head -n1)
    for opt in $CONSOLE_OPTION CONFIG_DEVTMPFS CONFIG_BLK_DEV_INITRD CONFIG_RD_GZIP CONFIG_PROC_FS; do
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
    if BBDEB=$(apt_download "busybox-static$PKG_SUFFIX"); then
        mkdir -p "$TMP/bb"
        dpkg -x "$BBDEB" "$TMP/bb"
        BUSYBOX=$(ls -1 "$TMP"/bb/bin/busybox "$TMP"/bb/usr/bin/busybox 2>/dev/null | head -n1 || true)
    fi
    if [[ -z $BUSYBOX && $ARCH == x86_64 ]] && [[ -x /bin/busybox ]] && file -L /bin/busybox | grep -q 'statically linked'; then
        log "falling back to the host's static /bin/busybox"
        BUSYBOX=/bin/busybox
    fi
    [[ -n $BUSYBOX ]] || { log "ERROR: no static busybox available"; exit 1; }

    if ! command -v "$CC" >/dev/null || [[ ! -e $LIBC_A ]]; then
        log "installing ${TOOLCHAIN[*]}"
        apt_update_once
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${TOOLCHAIN[@]}" >&2
    fi

    R=$TMP/root
    mkdir -p "$R"/{bin,dev,proc,sys,tmp,etc}
    install -m 0755 "$BUSYBOX" "$R/bin/busybox"
    ln -s busybox "$R/bin/sh"
    "$CC" -static -O2 -Wall -pthread -o "$R/bin/load" "$HERE/load.c"
    "$STRIP" "$R/bin/load" 2>/dev/null || true
    install -m 0755 "$HERE/init" "$R/init"
    # /init opens /dev/console itself after mounting devtmpfs; the node in the
    # archive only lets the kernel print to it before that (root only).
    if [[ $(id -u) -eq 0 ]]; then mknod -m 0600 "$R/dev/console" c 5 1 || true; fi

    (
        cd "$R"
        if command -v cpio >/dev/null && cpio --version 2>/dev/null | grep -q GNU; then
            find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet
        else
            # The host's busybox packs it (the guest's may be another architecture's).
            host_busybox=$R/bin/busybox
            [[ $ARCH == x86_64 ]] || host_busybox=$(command -v busybox || echo /bin/busybox)
            find . -mindepth 1 | LC_ALL=C sort | "$host_busybox" cpio -o -H newc -R 0:0
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
