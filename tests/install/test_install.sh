#!/usr/bin/env bash
# `meson install` for real, into a DESTDIR: the binary, the man page and the bash completion land
# where the system looks for them, and each works from there: the binary runs, man finds and
# renders the page, bash-completion's on-demand loader finds and loads the completion.
#
#   tests/install/test_install.sh MESON BUILD_DIR
set -uo pipefail

meson=${1:?usage: $0 MESON BUILD_DIR}
build=${2:?usage: $0 MESON BUILD_DIR}
name=virt-migrate-predict

source "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"
# in_list DIR LIST: DIR is one of the colon-separated LIST.
in_list() { [[ ":$2:" == *":$1:"* ]]; }

dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

# Where meson installs each file (the install paths, without DESTDIR).
installed=$("$meson" introspect "$build" --installed) || { echo "FAIL: meson introspect"; exit 1; }
bin=$(jq -r --arg n "$name" 'to_entries[] | select(.value | endswith("/bin/" + $n)) | .value' <<<"$installed")
man=$(jq -r --arg n "$name" 'to_entries[] | select(.value | endswith("/man1/" + $n + ".1")) | .value' <<<"$installed")
completion=$(jq -r --arg n "$name" 'to_entries[] | select(.key | endswith("/bash-completion/" + $n)) | .value' <<<"$installed")
echo "meson installs: $bin, $man, $completion"
check "meson installs the binary, the man page and the completion" \
    test -n "$bin" -a -n "$man" -a -n "$completion"
[[ -n $bin && -n $man && -n $completion ]] || { finish_checks; exit 1; }

out=$(DESTDIR=$dest "$meson" install -C "$build" --no-rebuild 2>&1)
check "meson install --destdir succeeds" test $? -eq 0 || echo "$out"
echo "installed under $dest:"
(cd "$dest" && find . -type f | sort | sed 's/^/  /')

# ---- the binary: on PATH from its bindir, and it runs
check "the binary is executable" test -x "$dest$bin"
check "  and found on PATH from its directory" \
    test "$(PATH=$dest${bin%/*} command -v "$name")" = "$dest$bin"
version=$("$dest$bin" --version)
check "  and runs: $version" test $? -eq 0 -a -n "$version"

# ---- the man page: section 1 under a man directory man searches, found and rendered by man
mandir=${man%/man1/*}
if command -v manpath >/dev/null && command -v man >/dev/null; then
    if [[ $mandir == /usr/share/man || $mandir == /usr/local/share/man ]]; then
        check "$mandir is in man's search path ($(manpath -g 2>/dev/null))" \
            in_list "$mandir" "$(manpath -g 2>/dev/null)"
    else
        echo "note: the prefix is not /usr or /usr/local: $mandir is not checked against man's own search path"
    fi
    check "man -w finds the page in the installed man directory" \
        test "$(MANPATH=$dest$mandir man -w "$name" 2>&1)" = "$dest$man"
    page=$(MANPATH=$dest$mandir MANWIDTH=80 MANPAGER=cat PAGER=cat man "$name" 2>/dev/null)
    check "  and renders it (NAME, SYNOPSIS, EXAMPLES)" \
        test "$(grep -cE '^(NAME|SYNOPSIS|EXAMPLES)$' <<<"$page")" -eq 3
else
    bad "man (man-db) is not installed (.ci/install-deps installs it)"
fi

# ---- the completion: in a directory bash-completion's loader searches, and loaded from there
main=/usr/share/bash-completion/bash_completion
compdir=${completion%/*}
datadir=${compdir%/bash-completion/completions}
if [[ -r $main ]]; then
    # The loader searches $XDG_DATA_DIRS (default /usr/local/share:/usr/share) and its own
    # directory's completions/ (/usr/share/bash-completion/completions).
    if [[ $datadir == /usr/share || $datadir == /usr/local/share ]]; then
        check "$compdir is where bash-completion looks by default" \
            test "$compdir" = "$datadir/bash-completion/completions"
    else
        echo "note: the prefix is not /usr or /usr/local: $compdir is only found with XDG_DATA_DIRS set"
    fi
    # In a clean shell, with the DESTDIR's datadir as XDG_DATA_DIRS: the loader finds the file
    # and the completion function comes from it.
    loaded=$(HOME=$dest XDG_DATA_DIRS=$dest$datadir bash --norc --noprofile -c '
        source "$1" >/dev/null 2>&1
        __load_completion "$2" || exit 1
        spec=$(complete -p "$2") || exit 1
        func=$(sed -n "s/.* -F \([^ ]*\) .*/\1/p" <<<"$spec")
        shopt -s extdebug
        declare -F "$func" | cut -d" " -f3-' bash "$main" "$name")
    check "bash-completion loads the completion on demand from $dest$compdir" \
        test "$loaded" = "$dest$completion"
else
    bad "$main is missing: bash-completion is not installed (.ci/install-deps installs it)"
fi

finish_checks
