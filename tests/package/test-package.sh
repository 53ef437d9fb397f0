#!/usr/bin/env bash
# The Debian package from the tree, as a user gets it: built with dpkg-buildpackage on Debian 12,
# installed with apt, its binary, man page, bash completion and examples used from where the
# package put them, then removed. Run as root (it installs and removes the package); .ci/run
# runs it. Needs dpkg-dev and debhelper (.ci/install-deps).
#
#   tests/package/test-package.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/../checks.sh"
[[ $(id -u) -eq 0 ]] || { echo "test-package.sh: run as root" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The tracked files as they are in the tree (what a clean clone has, edits included).
mkdir "$work/src"
(cd "$root" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$work/src"
version=$(cd "$work/src" && dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
deb=$work/virt-migrate-predict_${version}_${arch}.deb

start=$(date +%s)
if (cd "$work/src" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
  ok "dpkg-buildpackage -b built $(basename "$deb") in $(($(date +%s) - start)) s"
else
  tail -n 40 "$work/build.log"
  bad "dpkg-buildpackage -b failed"
  finish_checks
  exit 1
fi
check "the .deb is where dpkg-buildpackage puts it" test -f "$deb"
# Kept for the examples test's drain of two hosts (VMP_EXAMPLES_DEB), which installs it again.
if [[ -n ${VMP_KEEP_DEB:-} && -f $deb ]]; then cp "$deb" "$VMP_KEEP_DEB"; fi

apt-get install -y -q --no-install-recommends "$deb" >"$work/install.log" 2>&1 ||
  { tail -n 20 "$work/install.log"; bad "apt-get install of the package failed"; }
check "dpkg says it is installed" bash -c "dpkg -s virt-migrate-predict >/dev/null"
files=$(dpkg -L virt-migrate-predict)
for f in /usr/bin/virt-migrate-predict /usr/share/man/man1/virt-migrate-predict.1.gz \
  /usr/share/bash-completion/completions/virt-migrate-predict \
  /usr/share/doc/virt-migrate-predict/examples/virsh-migrate-checked \
  /usr/share/doc/virt-migrate-predict/examples/ansible/preflight-migrate.yml \
  /usr/share/doc/virt-migrate-predict/copyright; do
  check "the package holds $f" grep -qxF "$f" <<<"$files"
done

bin=/usr/bin/virt-migrate-predict
check "--help from the installed binary" bash -c "$bin --help | grep -q 'Exit status:'"
check "--version says $version" bash -c "$bin --version | grep -qF '$version'"
check "man finds the page" bash -c "[[ \$(man -w virt-migrate-predict) == /usr/share/man/man1/virt-migrate-predict.1.gz ]]"
check "the page renders, with its EXIT STATUS section" \
  bash -c "MANPAGER=cat MANWIDTH=80 man virt-migrate-predict 2>/dev/null | grep -q 'EXIT STATUS'"
check "bash completion loads and completes options" bash -c "
  source /usr/share/bash-completion/bash_completion 2>/dev/null
  source /usr/share/bash-completion/completions/virt-migrate-predict
  COMP_WORDS=(virt-migrate-predict --dom); COMP_CWORD=1; COMP_LINE='virt-migrate-predict --dom'
  COMP_POINT=\${#COMP_LINE}
  \$(complete -p virt-migrate-predict | sed 's/.*-F \([^ ]*\).*/\1/') virt-migrate-predict --dom virt-migrate-predict
  [[ \" \${COMPREPLY[*]} \" == *' --domain '* ]]"
profile=$(ls /usr/share/doc/virt-migrate-predict/examples/profiles/*.json* 2>/dev/null | head -n 1)
if [[ -n $profile ]]; then
  if [[ $profile == *.gz ]]; then zcat "$profile" >"$work/profile.json"; else cp "$profile" "$work/profile.json"; fi
  "$bin" --profile "$work/profile.json" --bandwidth 1Gbit/s --json >"$work/report.json"
  status=$?
  check "a prediction from an installed example profile (exit $status)" \
    bash -c "[[ $status -le 5 ]] && jq -e '.advice.verdict' '$work/report.json' >/dev/null"
else
  bad "no example profile installed"
fi

apt-get remove -y -q virt-migrate-predict >"$work/remove.log" 2>&1 || bad "apt-get remove failed"
check "removed: the binary is gone" test ! -e "$bin"
check "removed: the man page is gone" test ! -e /usr/share/man/man1/virt-migrate-predict.1.gz
check "dpkg no longer has it installed" bash -c "! dpkg -s virt-migrate-predict 2>/dev/null | grep -q '^Status: install ok installed'"
finish_checks
