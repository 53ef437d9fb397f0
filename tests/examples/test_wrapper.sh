#!/usr/bin/env bash
# examples/virsh-migrate-checked without a guest, as any user: what it runs for each verdict, in
# which order, what it sets back when a command fails, and what it refuses. The reports come from
# the real virt-migrate-predict predicting offline from examples/profiles/1gib-256mib-random.json
# (1 GiB, a 256 MiB working set), given the domain's name and migration settings as a live run
# would report them; virsh is a stand-in that records its arguments. The same wrapper against a
# live guest and the real virsh: test_examples.sh.
#
#   tests/examples/test_wrapper.sh TOOL SOURCE_ROOT
set -uo pipefail

tool=${1:?usage: $0 TOOL SOURCE_ROOT}
root=${2:?usage: $0 TOOL SOURCE_ROOT}
wrapper=$root/examples/virsh-migrate-checked
profile=$root/examples/profiles/1gib-256mib-random.json
command -v jq >/dev/null || {
    if [[ -n ${CI:-} && ${CI:-} != false && ${CI:-} != 0 ]]; then
        echo "FAIL: jq is not installed (.ci/install-deps installs it)"
        exit 1
    fi
    echo "SKIP: jq is not installed (.ci/install-deps installs it)"
    exit 77
}

source "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"

# virt-migrate-predict --domain NAME as a live run answers, from the profile: the domain's max
# downtime ($DOM_DOWNTIME_MS) and speed cap ($DOM_SPEED_MIB, empty: uncapped) are the settings
# unless --downtime / --bandwidth are given. $EXTRA_COMMAND is appended to the recommended
# commands (a report this wrapper does not know).
cat >"$tmp/predict" <<'EOF'
#!/usr/bin/env bash
args=() name= saw_bw= saw_dt=
while (($#)); do
    case $1 in
        --domain) name=$2; shift ;;
        --connect) shift ;;
        --json) ;;
        --bandwidth) saw_bw=1; args+=("$1") ;;
        --downtime) saw_dt=1; args+=("$1") ;;
        *) args+=("$1") ;;
    esac
    shift
done
[[ $name == vm1 ]] || { echo "error: failed to get domain '$name': Domain not found" >&2; exit 1; }
[[ -z $saw_dt ]] && args+=(--downtime "$DOM_DOWNTIME_MS")
[[ -z $saw_bw && -n $DOM_SPEED_MIB ]] && args+=(--bandwidth "$DOM_SPEED_MIB")
report=$("$TOOL" --profile "$PROFILE" --json "${args[@]}")
status=$?
[[ -n $report ]] || exit "$status"
jq --arg name "$name" --arg extra "${EXTRA_COMMAND:-}" '
    .subject = $name | .domain = {name: $name}
    | .migration_config = {
        libvirt_max_downtime_ms: (env.DOM_DOWNTIME_MS | tonumber),
        libvirt_max_speed_unlimited: (env.DOM_SPEED_MIB == ""),
        libvirt_max_speed_bytes_per_s:
            (if env.DOM_SPEED_MIB == "" then null else (env.DOM_SPEED_MIB | tonumber) * 1048576 end)}
    | if .advice.recommended then
        .advice.recommended.commands |= map(sub(" DOMAIN "; " " + $name + " "))
        | if $extra != "" then .advice.recommended.commands += [$extra] else . end
      else . end' <<<"$report"
exit "$status"
EOF
# virsh: records each call; the subcommand named in $VIRSH_FAIL fails.
cat >"$tmp/bin/virsh" <<'EOF'
#!/usr/bin/env bash
echo "$*" >>"$VIRSH_LOG"
args=" $* "
[[ -n ${VIRSH_FAIL:-} && $args == *" $VIRSH_FAIL "* ]] && { echo "error: $VIRSH_FAIL failed" >&2; exit 1; }
exit 0
EOF
chmod +x "$tmp/predict" "$tmp/bin/virsh"

# wrap NAME DOWNTIME_MS SPEED_MIB ARGS...: the wrapper against domain vm1 with these settings.
wrap() {
    local name=$1 downtime=$2 speed=$3
    shift 3
    : >"$tmp/$name.virsh"
    PATH=$tmp/bin:$PATH VIRT_MIGRATE_PREDICT=$tmp/predict TOOL=$tool PROFILE=$profile \
        DOM_DOWNTIME_MS=$downtime DOM_SPEED_MIB=$speed VIRSH_LOG=$tmp/$name.virsh \
        "$wrapper" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
    status=$?
    echo "---- $name: exit status $status: domain at $downtime ms, ${speed:-uncapped} MiB/s: $*"
    sed 's/^/  stdout: /' "$tmp/$name.out"
    sed 's/^/  stderr: /' "$tmp/$name.err"
    sed 's/^/  virsh ran: /' "$tmp/$name.virsh"
}
ran() { cat "$tmp/$1.virsh"; }
dest=qemu+ssh://dst/system
c="-c qemu:///system"

wrap migrate 300 64 -c qemu:///system vm1 "$dest" -- --persistent
check "converges as configured: 0" test "$status" -eq 0
check "  virsh migrate --live alone, with the options after --" \
    test "$(ran migrate)" = "$c migrate --live vm1 $dest --persistent"

wrap more-bandwidth 300 16 -c qemu:///system vm1 "$dest"
check "more bandwidth needed, allowed: 0" test "$status" -eq 0
check "  the speed the advice names, then the migration" test "$(ran more-bandwidth)" = \
    "$c migrate-setspeed vm1 19
$c migrate --live vm1 $dest"

VIRSH_FAIL=migrate wrap failed-migration 300 16 -c qemu:///system vm1 "$dest"
check "the migration fails: 6" test "$status" -eq 6
check "  the speed is set back to its cap" test "$(ran failed-migration)" = \
    "$c migrate-setspeed vm1 19
$c migrate --live vm1 $dest
$c migrate-setspeed vm1 16"

VIRSH_FAIL=migrate-setspeed wrap failed-setting 300 16 vm1 "$dest"
check "a setting cannot be changed: 6" test "$status" -eq 6
check "  no migration; the speed set back" test "$(ran failed-setting)" = \
    "migrate-setspeed vm1 19
migrate-setspeed vm1 16"

VIRSH_FAIL=migrate wrap failed-uncapped 300 "" --bandwidth 16MiB/s vm1 "$dest"
check "an uncapped domain's migration fails: 6" test "$status" -eq 6
check "  it is uncapped again (libvirt's largest speed)" \
    test "$(tail -1 "$tmp/failed-uncapped.virsh")" = "migrate-setspeed vm1 8796093022207"

wrap uncapped 300 "" -n --bandwidth 64MiB/s --downtime 500 vm1 "$dest"
check "--downtime other than the domain's, dry-run: 0" test "$status" -eq 0
check "  the max downtime predicted with, no cap on an uncapped domain; virsh not run" \
    test "$(cat "$tmp/uncapped.out"):$(ran uncapped)" = \
    "virsh migrate-setmaxdowntime vm1 500
virsh migrate --live vm1 $dest:"

wrap capped 300 64 -n --bandwidth 40MiB/s vm1 "$dest"
check "--bandwidth other than the domain's cap, dry-run: 0" test "$status" -eq 0
check "  the cap becomes the bandwidth predicted with" test "$(cat "$tmp/capped.out")" = \
    "virsh migrate-setspeed vm1 40
virsh migrate --live vm1 $dest"

wrap post-copy 300 8 -n --max-bandwidth 8MiB/s --max-downtime 300ms --allow-postcopy vm1 "$dest"
check "post-copy, dry-run: 0" test "$status" -eq 0
check "  virsh migrate with --postcopy --postcopy-after-precopy" test "$(cat "$tmp/post-copy.out")" = \
    "virsh migrate --live --postcopy --postcopy-after-precopy vm1 $dest"

wrap refuse 300 12 --max-bandwidth 12MiB/s --max-downtime 300ms vm1 "$dest"
check "nothing allowed converges: refused, 4" test "$status" -eq 4
check "  virsh not run, nothing on stdout" test ! -s "$tmp/refuse.virsh" -a ! -s "$tmp/refuse.out"
check "  the reason" grep -q "^virsh-migrate-checked: refusing to migrate vm1: do not migrate: at 12 MiB/s with a max downtime of 300 ms it does not converge" "$tmp/refuse.err"

wrap no-bandwidth 300 "" vm1 "$dest"
check "no bandwidth known: refused, 5" test "$status" -eq 5
check "  virsh not run" test ! -s "$tmp/no-bandwidth.virsh"

EXTRA_COMMAND="virsh destroy vm1" wrap unknown-command 300 16 vm1 "$dest"
check "a recommended command it does not know: 1" test "$status" -eq 1
check "  virsh not run" test ! -s "$tmp/unknown-command.virsh"

wrap no-domain 300 64 vm2 "$dest"
check "the pre-flight fails: 1" test "$status" -eq 1
check "  the tool's error is shown" grep -q "^error: failed to get domain 'vm2'" "$tmp/no-domain.err"

wrap tool-usage 300 64 --curve straight vm1 "$dest"
check "an option value the tool refuses: 2" test "$status" -eq 2

for bad_args in "vm1" "vm1 $dest extra" "--profile p.json vm1 $dest" "--frobnicate vm1 $dest" \
    "vm1 $dest -- --auto-converge" "vm1 $dest -- --bandwidth=100"; do
    # shellcheck disable=SC2086  # the words of bad_args are the arguments
    wrap usage 300 64 $bad_args
    check "usage error for: $bad_args" test "$status" -eq 2 -a ! -s "$tmp/usage.virsh"
done

finish_checks
