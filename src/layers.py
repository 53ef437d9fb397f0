#!/usr/bin/env python3
"""The layers of src/, checked in every build (src/meson.build runs this as a default target).

Each folder is a layer and a static library. A file may include headers of its own folder and of
the folders its layer lists below, and only the system libraries its layer lists; anything else
fails the build with one line per wrong include. Reading order for a newcomer: the tables below
are the architecture.

usage: layers.py SRC_DIR STAMP DEPFILE
"""

import pathlib
import re
import sys

# Folder -> the folders its files may include (its own is always allowed). "" is src/ itself
# (main.cpp).
LAYERS = {
    "base": set(),                       # errors, units, figures for people, stop signals
    "model": {"base"},                   # the pure model: no I/O, no JSON, no libvirt
    "virt": {"base"},                    # libvirt, QMP, domain XML, transcripts
    "probe": {"base", "model", "virt"},  # the measurement and the saved profile
    "report": {"base", "model", "probe", "virt"},  # what the tool says
    "predict": {"base", "model", "probe", "virt", "report"},  # profile + settings -> report
    "watch": {"base", "model", "probe", "virt"},   # --watch
    "cli": {"base", "model", "probe", "virt", "report", "predict", "watch"},  # options, exits
    "": {"base", "cli"},                 # main.cpp
}

# System headers by path prefix -> the layers that may include them.
LIBRARIES = {
    "libvirt/": {"virt"},
    "libxml/": {"virt"},
    "CLI/": {"cli"},
    "nlohmann/": {"virt", "probe", "report", "predict", "watch", "cli"},
}

PROJECT = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SYSTEM = re.compile(r"^\s*#\s*include\s+<([^>]+)>", re.M)


def layer_of(rel):
    parts = rel.split("/")
    return parts[0] if len(parts) > 1 else ""


def main():
    src = pathlib.Path(sys.argv[1])
    stamp, depfile = sys.argv[2], sys.argv[3]
    files = sorted(p for p in src.rglob("*") if p.suffix in (".cpp", ".hpp"))
    texts = {p.relative_to(src).as_posix(): p.read_text() for p in files}
    errors = []

    def project_includes(rel):
        return [i for i in PROJECT.findall(texts[rel]) if i != "vmp_config.h"]

    for rel in texts:
        layer = layer_of(rel)
        if layer not in LAYERS:
            errors.append(f"src/{rel}: folder '{layer}' has no layer in src/layers.py")
            continue
        for inc in project_includes(rel):
            if inc not in texts:
                continue  # a header of the build directory or a typo the compiler reports
            target = layer_of(inc)
            if target != layer and target not in LAYERS[layer]:
                allowed = ("only " + ", ".join(sorted(LAYERS[layer])) if LAYERS[layer]
                           else "nothing outside itself")
                errors.append(f"src/{rel} includes {inc}: {layer or 'src/'} may include "
                              f"{allowed} (src/layers.py)")
        for inc in SYSTEM.findall(texts[rel]):
            for prefix, layers in LIBRARIES.items():
                if inc.startswith(prefix) and layer not in layers:
                    errors.append(f"src/{rel} includes <{inc}>: only {', '.join(sorted(layers))} "
                                  f"may use it")

    # libvirt reached through headers: a file outside virt/ that includes a virt/ header which
    # includes <libvirt/...> uses libvirt as surely as one that includes it itself.
    reaches = {}

    def reaches_libvirt(rel, seen=()):
        if rel in reaches:
            return reaches[rel]
        if rel in seen:
            return False
        direct = any(i.startswith("libvirt/") for i in SYSTEM.findall(texts[rel]))
        result = direct or any(
            reaches_libvirt(i, seen + (rel,)) for i in project_includes(rel) if i in texts)
        reaches[rel] = result
        return result

    for rel in texts:
        if layer_of(rel) == "virt":
            continue
        if reaches_libvirt(rel):
            errors.append(f"src/{rel} reaches libvirt's headers: libvirt belongs in virt/ "
                          f"behind an interface (virt/live_target.hpp, virt/watch_target.hpp)")

    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    pathlib.Path(stamp).write_text("layers ok\n")
    deps = " ".join(str(p.resolve()).replace(" ", "\\ ") for p in files)
    pathlib.Path(depfile).write_text(f"{stamp}: {deps}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
