#!/usr/bin/env bash
# examples/ansible/drain-hosts.yml without a guest, as any user: the gate on a plan with a domain
# left out or not measured (the host stops before anything runs), the batches for vmp_concurrent
# 2 with a migration the plan runs alone (its own batch, first), the settings the plan assumed,
# per-domain virsh migrate options, and a migration that fails (the host's drain stops after its
# batch). The domains' reports come from the real virt-migrate-predict predicting offline from
# examples/profiles/1gib-256mib-random.json, given the name and migration settings a live run
# reports; the drain objects around them are written here in the tool's --drain --json format
# (offline, the tool plans no drain); virsh is a stand-in that logs its arguments with the time
# and sleeps 2 s per migration. The same playbook against real guests: test_examples.sh.
#
#   tests/examples/test_drain_playbook.sh TOOL SOURCE_ROOT
set -uo pipefail

tool=${1:?usage: $0 TOOL SOURCE_ROOT}
root=${2:?usage: $0 TOOL SOURCE_ROOT}
playbook=$root/examples/ansible/drain-hosts.yml
profile=$root/examples/profiles/1gib-256mib-random.json

in_ci() { [[ -n ${CI:-} && ${CI:-} != 0 && ${CI:-} != false && ${CI:-} != no ]]; }
for p in jq ansible-playbook; do
    if ! command -v "$p" >/dev/null; then
        if in_ci; then echo "FAIL: $p is not installed (.ci/install-deps installs it)"; exit 1; fi
        echo "SKIP: $p is not installed (.ci/install-deps installs it)"
        exit 77
    fi
done

source "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"

# A domain's report as a live run gives it: report NAME CAP_MIB (empty: uncapped) TOOL_OPTIONS...
report() {
    local name=$1 cap=$2
    shift 2
    "$tool" --profile "$profile" --json "$@" |
        jq --arg n "$name" --arg cap "$cap" '.subject = $n | .domain = {name: $n}
            | .migration_config = {libvirt_max_downtime_ms: 300,
                                   libvirt_max_speed_unlimited: ($cap == ""),
                                   libvirt_max_speed_bytes_per_s:
                                     (if $cap == "" then null else ($cap | tonumber) * 1048576 end)}'
}
# A migration of the plan: migration ORDER DOMAIN ALONE LAUNCH_MS RETURNS_MS CAP_BYTES|null
migration() {
    jq -n --argjson o "$1" --arg d "$2" --argjson alone "$3" --argjson l "$4" --argjson r "$5" \
        --argjson cap "$6" '{order: $o, domain: $d, alone: $alone, converges: true,
            launch_ms: $l, end_ms: ($r - 1500), returns_ms: $r, total_time_ms: ($r - $l - 1500),
            qemu_total_time_ms: ($r - $l - 2500), downtime_ms: 120, transferred_bytes: 1e8,
            mean_bandwidth_bytes_per_s: 3e7, cap_bytes_per_s: $cap,
            alone_total_time_ms: ($r - $l - 2000), alone_downtime_ms: 100}'
}
# (--downtime 500 as vmp_options gives it, where the domains' own is 300 ms.)
report a 64 --bandwidth 64MiB/s --downtime 500 >"$tmp/a.json"
report b "" --bandwidth 32MiB/s --downtime 500 >"$tmp/b.json"
report c 64 --bandwidth 64MiB/s --downtime 500 >"$tmp/c.json"
report hot 4 --bandwidth 4MiB/s --downtime 500 >"$tmp/hot.json"
check "(the left-out domain's own verdict is not migrate)" \
    test "$(jq -r .advice.verdict "$tmp/hot.json")" != migrate
migration 1 c true 0 4000 67108864 >"$tmp/m1.json"
migration 2 a false 4000 9000 67108864 >"$tmp/m2.json"
# b: uncapped, but --bandwidth 32MiB/s capped it in the plan; --downtime 500 too.
migration 3 b false 4000 8000 33554432 >"$tmp/m3.json"
migration 1 a false 0 4000 67108864 >"$tmp/m1a.json"
# The plan of host "good": c alone first, then a and b together (vmp_concurrent 2).
jq -n --slurpfile a "$tmp/a.json" --slurpfile b "$tmp/b.json" --slurpfile c "$tmp/c.json" \
    --slurpfile m1 "$tmp/m1.json" --slurpfile m2 "$tmp/m2.json" --slurpfile m3 "$tmp/m3.json" \
    '{drain: {link_bytes_per_s: 125000000, concurrent: 2, total_time_ms: 9000, all_converge: true,
              order_by: "alone-first-then-longest",
              order_rule: "domains that converge only with the link to themselves first",
              migrations: [$m1[0], $m2[0], $m3[0]], left_out: [],
              concurrency: [], faster_concurrent: null},
      domains: [$a[0], $b[0], $c[0]]}' >"$tmp/plan-good.json"
# The plan of host "stop": a would go, hot is left out, gone could not be measured.
jq -n --slurpfile a "$tmp/a.json" --slurpfile hot "$tmp/hot.json" --slurpfile m1 "$tmp/m1a.json" \
    '{drain: {link_bytes_per_s: 125000000, concurrent: 1, total_time_ms: 4000, all_converge: true,
              order_by: "alone-first-then-longest", order_rule: "", migrations: [$m1[0]], left_out: ["hot"],
              concurrency: [], faster_concurrent: null},
      domains: [$a[0], $hot[0],
                {subject: "gone", error: "failed to get domain '"'gone'"': Domain not found",
                 error_key: "domain-not-found", exit_status: 1}]}' >"$tmp/plan-stop.json"

# The tool: the plan of the host its --connect names (qemu:///HOST), with the tool's status.
cat >"$tmp/predict" <<EOF
#!/usr/bin/env bash
echo "\$*" >>"$tmp/predict.log"
for a; do case \$a in qemu:///good) cat "$tmp/plan-good.json"; exit 0 ;;
                      qemu:///stop) cat "$tmp/plan-stop.json"; exit 3 ;; esac; done
exit 2
EOF
# virsh: logs "START|END|FAIL TIME ARGS"; a migration takes 2 s (\$VMP_MIGRATE_S), and fails for the domain named
# in \$VMP_FAIL; domjobinfo --completed answers as libvirt does on a destination; domjobinfo
# DOMAIN on the source as libvirt did (recorded: tests/examples/data/domjobinfo, the libvirt of
# \$VMP_JOBINFO): before its migration (or after it failed), during the first \$VMP_STEPS_S of
# it (libvirt's steps before QEMU's migration), while QEMU sends, and once the domain has gone.
cat >"$tmp/bin/virsh" <<EOF
#!/usr/bin/env bash
echo "START \$(date +%s.%N) \$*" >>"$tmp/virsh.log"
case " \$* " in
    *" migrate "*)
        sleep "\${VMP_MIGRATE_S:-2}"
        if [[ " \$* " == *" \${VMP_FAIL:-none} "* ]]; then
            echo "FAIL \$(date +%s.%N) \$*" >>"$tmp/virsh.log"
            echo "error: operation failed: migration out job: unexpectedly failed" >&2
            exit 1
        fi ;;
    *" domjobinfo --completed "*)
        printf 'Job type:         Completed\nOperation:        Incoming migration\nTime elapsed:     2345         ms\nTotal downtime:   67           ms\n' ;;
    *" domjobinfo "*)
        recorded=$root/tests/examples/data/domjobinfo/\$VMP_JOBINFO
        dom=\${@: -1}
        times=\$(awk -v d="\$dom" '/ migrate --live / {
            for (i = 1; i <= NF; i++) if (\$i == "--live" && \$(i + 1) == d) print \$1, \$2 }' "$tmp/virsh.log")
        start=\$(echo "\$times" | awk '\$1 == "START" { t = \$2 } END { print t }')
        if [[ \$times == *FAIL* || -z \$start ]]; then
            cat "\$recorded/none.txt"
        elif [[ \$times == *END* ]]; then
            cat "\$recorded/gone.txt" >&2
            exit "\$(cat "\$recorded/gone.status")"
        elif awk -v s="\$start" -v n="\$(date +%s.%N)" -v w="\${VMP_STEPS_S:-0}" 'BEGIN { exit !(n - s < w) }'; then
            cat "\$recorded/steps.txt"
        else
            cat "\$recorded/sending.txt"
        fi ;;
esac
echo "END \$(date +%s.%N) \$*" >>"$tmp/virsh.log"
EOF
chmod +x "$tmp/predict" "$tmp/bin/virsh"

cat >"$tmp/inventory.yml" <<EOF
all:
  children:
    kvm_hosts:
      hosts:
        good:
          vmp_connect: qemu:///good
          vmp_domain_migrate_options: {a: [--xml, a.xml]}
          vmp_concurrent: 2
        stop:
          vmp_connect: qemu:///stop
      vars:
        ansible_connection: local
        ansible_python_interpreter: /usr/bin/python3
        vmp_command: $tmp/predict
        vmp_destination: qemu:///dest
        vmp_link_speed: 1Gbit/s
        vmp_migrate_options: [--migrateuri, tcp://127.0.0.1]
        vmp_options: [--bandwidth, 32MiB/s, --downtime, "500"]
EOF
# play NAME ARGS...: ansible-playbook with the stand-in virsh first in PATH. (With HOME moved,
# the async directory is given: async_status would look under the user's real home.)
play() {
    local name=$1
    shift
    rm -f "$tmp/virsh.log" "$tmp/predict.log"
    local t0=$SECONDS
    env PATH="$tmp/bin:$PATH" VMP_FAIL="${VMP_FAIL:-}" VMP_MIGRATE_S="${VMP_MIGRATE_S:-2}" \
        VMP_JOBINFO="${VMP_JOBINFO:-libvirt-11.3}" VMP_STEPS_S="${VMP_STEPS_S:-0}" ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
        ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCAL_TEMP="$tmp/ansible-local" HOME="$tmp" \
        ANSIBLE_ASYNC_DIR="$tmp/ansible-async" ansible-playbook -i "$tmp/inventory.yml" "$playbook" "$@" >"$tmp/$name.out" 2>&1 </dev/null
    status=$?
    touch "$tmp/virsh.log"
    echo "---- $name: exit status $status after $((SECONDS - t0)) s: ansible-playbook $*"
    sed 's/^/  /' "$tmp/$name.out"
    sed 's/^/  virsh: /' "$tmp/virsh.log"
}
# The domains virsh migrated, in the order the migrations started.
started() { awk '$1 == "START" && / migrate --live / { for (i = 1; i <= NF; i++) if ($i == "--live") print $(i + 1) }' "$tmp/virsh.log" | tr '\n' ' '; }

# ------------------------------------------------------------------ plan only (the default)
play plan-only
check "plan only: the play fails (host stop)" test "$status" -ne 0
check "  the tool ran --drain with the link, vmp_concurrent and vmp_options" grep -qx -- \
    "--drain --json --quiet --connect qemu:///good --link-speed 1Gbit/s --concurrent 2 --all-running --bandwidth 32MiB/s --downtime 500" \
    "$tmp/predict.log"
check "  nothing ran (vmp_drain is off by default)" test ! -s "$tmp/virsh.log"
o=$tmp/plan-only.out
check "  good: every domain passes the gate" \
    test "$(grep -c "^ok: \[good\] => (item=[abc]: order [123]" "$o")" -eq 3
check "  good: the plan is shown in its order" test "$(sed -n \
    's/.*"msg": "\([0-9]\. [abc]\( (alone)\)\{0,1\}\): starts at.*/\1/p' "$o" | tr '\n' ' ')" = \
    "1. c (alone) 2. a 3. b "
check "  stop: hot fails the gate, left out, with its verdict" grep -Eq \
    'failed: \[stop\] \(item=hot: left out\) .*"msg": "hot: left out, [a-z-]+: at 4.0 MiB/s with a max downtime of [0-9]+ ms it does not converge even with the link to itself' "$o"
check "  stop: gone fails the gate, not measured, with the tool's key" grep -q \
    "failed: \[stop\] (item=gone: not measured (domain-not-found)) .*measuring it failed: failed to get domain 'gone'" "$o"
check "  stop: its message says the drain stops" grep -q \
    "The drain of stop stops: nothing is migrated" "$o"
check "  the recap: good ok, stop failed" grep -Eq "^stop +: .* failed=1" "$o"

# ------------------------------------------------------------------ drain, vmp_concurrent 2
# (8 s a migration: Ansible starts a batch's tasks a second or more apart on a loaded machine.)
# One start at a time: b, a's batch-mate, starts once a is sending, which virsh domjobinfo on the
# source says as libvirt 9.0 and as 11.3 did (2 s of libvirt's steps here).
for jobinfo in libvirt-9.0 libvirt-11.3; do
    VMP_JOBINFO=$jobinfo VMP_STEPS_S=2 VMP_MIGRATE_S=8 play drain -e vmp_drain=true --limit good
    check "drain ($jobinfo's domjobinfo): the play passes" test "$status" -eq 0
    check "  it set the max downtime of each to the 500 ms the plan assumed (theirs: 300 ms)" \
        test "$(grep -Ec "^START [0-9.]+ --connect qemu:///good migrate-setmaxdowntime [abc] 500$" \
            "$tmp/virsh.log")" -eq 3
    check "  it capped b (uncapped) at the 32 MiB/s the plan assumed, and no other" \
        test "$(grep "^START .* migrate-setspeed " "$tmp/virsh.log" | cut -d' ' -f3-)" = \
        "--connect qemu:///good migrate-setspeed b 32"
    check "  c (alone) first, then a and b" test "$(started)" = "c a b "
    check "  two batches after it: c alone, then a and b" \
        grep -q "included: .*drain-batch.yml for good => (item=a, b)" "$tmp/drain.out"
    c_end=$(awk '$1 == "END" && / migrate --live c / { print $2 }' "$tmp/virsh.log")
    a_start=$(awk '$1 == "START" && / migrate --live a / { print $2 }' "$tmp/virsh.log")
    a_end=$(awk '$1 == "END" && / migrate --live a / { print $2 }' "$tmp/virsh.log")
    b_start=$(awk '$1 == "START" && / migrate --live b / { print $2 }' "$tmp/virsh.log")
    check "  a started after c (alone) had returned" awk -v s="$a_start" -v e="$c_end" 'BEGIN { exit !(s > e) }'
    check "  b started while a ran (one batch)" awk -v s="$b_start" -v e="$a_end" 'BEGIN { exit !(s < e) }'
    check "  b started once a was sending, its 2 s of steps done" \
        awk -v b="$b_start" -v a="$a_start" 'BEGIN { exit !(b - a >= 2) }'
    check "  the wait asked domjobinfo of a on the source" \
        grep -q "^START [0-9.]* --connect qemu:///good domjobinfo a$" "$tmp/virsh.log"
    check "  and of no other (c ran alone, b was its batch's last)" test "$(grep -Ec \
        "^START [0-9.]+ --connect qemu:///good domjobinfo [bc]$" "$tmp/virsh.log")" -eq 0
    check "  with the options for every domain and a's own" grep -q \
        "^START [0-9.]* --connect qemu:///good migrate --live a qemu:///dest --migrateuri tcp://127.0.0.1 --xml a.xml$" \
        "$tmp/virsh.log"
    check "  each migration's real times against the plan's" test "$(grep -Ec \
        '"msg": "[0-9]\. [abc]: started at \+[0-9.]+ s \(plan \+[0-9.]+ s\), virsh migrate returned after [0-9.]+ s \(plan [0-9.]+ s\); migration 2.3 s \(plan [0-9.]+ s\), paused 67 ms \(plan 120 ms\)' \
        "$tmp/drain.out")" -eq 3
    check "  and the whole drain's" grep -Eq \
        '"msg": "good: 3 domains migrated to qemu:///dest in [0-9.]+ s \(plan 9.0 s\)' "$tmp/drain.out"
done

# ------------------------------------------------------------------ a migration fails
VMP_FAIL=c play failed -e vmp_drain=true --limit good
check "a failed migration: the play fails" test "$status" -ne 0
check "  after c, nothing more started" test "$(started)" = "c "
check "  it says which failed, and what did and did not migrate" grep -q \
    "c: virsh migrate failed (exit status 1): error: operation failed: migration out job: unexpectedly failed. The drain of good stops: migrated none; not migrated: c, a, b" \
    "$tmp/failed.out"
VMP_FAIL=a play failed-batch -e vmp_drain=true --limit good
check "a failed migration in a batch: the play fails" test "$status" -ne 0
check "  the batch's other migration was waited for" grep -q "^END [0-9.]* .* migrate --live b " "$tmp/virsh.log"
check "  it says so" grep -q "The drain of good stops: migrated c, b; not migrated: a" "$tmp/failed-batch.out"

finish_checks
