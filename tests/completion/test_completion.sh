#!/bin/bash
# Checks the bash completion of virt-migrate-predict: sources it, fills COMP_WORDS/COMP_CWORD as
# bash would for a command line, calls the completion function and compares COMPREPLY.
# Runs twice when the bash-completion package is installed: with the script alone (its compgen
# fallbacks) and with bash-completion's helpers (_init_completion, _filedir) loaded.
#
# Usage: test_completion.sh COMPLETION_SCRIPT SOURCE_ROOT
set -u

completion=${1:?usage: $0 COMPLETION_SCRIPT SOURCE_ROOT}
source_root=${2:?usage: $0 COMPLETION_SCRIPT SOURCE_ROOT}
cd "$source_root" || exit 1

bash_completion_main=
for f in /usr/share/bash-completion/bash_completion /etc/bash_completion; do
    if [[ -r $f ]]; then
        bash_completion_main=$f
        break
    fi
done

# A fake virsh for domain names: records its arguments, lists two domains.
fake_bin=$(mktemp -d)
trap 'rm -rf "$fake_bin"' EXIT
cat >"$fake_bin/virsh" <<'EOF_VIRSH'
#!/bin/sh
echo "$*" >"$(dirname "$0")/virsh-args"
printf 'guest-one\nguest-two\nother\n'
EOF_VIRSH
chmod +x "$fake_bin/virsh"

# Completes LINE (the cursor at its end) in a child shell and prints COMPREPLY, one per line.
# Words are split on blanks; a trailing blank starts an empty word; "=" and ":" are words of
# their own, as the default COMP_WORDBREAKS makes them.
complete_line() {
    local mode=$1 line=$2
    PATH=$fake_bin:$PATH bash --norc --noprofile -c '
        mode=$1 completion=$2 main=$3 line=$4
        if [[ $mode == bash-completion ]]; then
            source "$main" >/dev/null 2>&1 || { echo "cannot source $main" >&2; exit 1; }
            declare -F _init_completion _filedir >/dev/null ||
                { echo "$main defines no _init_completion or _filedir" >&2; exit 1; }
        fi
        source "$completion" || exit 1
        declare -F _virt_migrate_predict >/dev/null || { echo "no _virt_migrate_predict" >&2; exit 1; }
        spaced=${line//=/ = }
        spaced=${spaced//:/ : }
        read -r -a COMP_WORDS <<<"$spaced"
        [[ $line == *[\ =:] ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE=$line
        COMP_POINT=${#line}
        COMPREPLY=()
        _virt_migrate_predict virt-migrate-predict "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf "%s\n" "${COMPREPLY[@]}"
    ' complete_line "$mode" "$completion" "$bash_completion_main" "$line"
}

failures=0
checks=0

# expect MODE LINE how WORD...: how is "exactly" (COMPREPLY is the words, in any order),
# "contains" (COMPREPLY holds every word) or "lacks" (COMPREPLY holds none of them).
expect() {
    local mode=$1 line=$2 how=$3
    shift 3
    local got
    got=$(complete_line "$mode" "$line")
    local status=$?
    checks=$((checks + 1))
    local ok=true w
    if [[ $status -ne 0 ]]; then
        ok=false
    else
        case $how in
            exactly)
                [[ $(printf '%s\n' "$@" | sort) == $(printf '%s\n' "$got" | sed '/^$/d' | sort) ]] ||
                    ok=false
                ;;
            contains)
                for w in "$@"; do grep -qxF -- "$w" <<<"$got" || ok=false; done
                ;;
            lacks)
                for w in "$@"; do grep -qxF -- "$w" <<<"$got" && ok=false; done
                ;;
        esac
    fi
    if $ok; then
        echo "ok   [$mode] '$line' $how: $*"
    else
        failures=$((failures + 1))
        echo "FAIL [$mode] '$line' $how: $*"
        echo "     COMPREPLY (exit status $status):"
        sed 's/^/       /' <<<"$got"
    fi
}

modes=(plain)
[[ -n $bash_completion_main ]] && modes+=(bash-completion)

for mode in "${modes[@]}"; do
    expect "$mode" "virt-migrate-predict --ban" exactly --bandwidth
    expect "$mode" "virt-migrate-predict --d" exactly --domain --downtime --deadline --drain
    # --concurrent only goes with --drain, which rules out a profile and the table.
    expect "$mode" "virt-migrate-predict --co" exactly --connect
    expect "$mode" "virt-migrate-predict --drain --co" exactly --connect --concurrent
    expect "$mode" "virt-migrate-predict --drain --all-running --" lacks --profile --table \
        --watch --drain
    expect "$mode" "virt-migrate-predict --drain --concurrent " exactly 1 2 3 4
    expect "$mode" "virt-migrate-predict " contains --domain --profile --connect --bandwidth \
        --downtime --deadline --measure-time --sample-pages --mode --no-qmp --quiet --readonly \
        --save-profile --curve --table --json --help --version --all-running \
        --allow-auto-converge --allow-postcopy --max-downtime --max-bandwidth --link-speed
    expect "$mode" "virt-migrate-predict --json --profile x.json --" lacks --json --profile
    expect "$mode" "virt-migrate-predict --curve s" exactly saturating
    expect "$mode" "virt-migrate-predict --curve " exactly auto hybrid saturating piecewise-linear
    expect "$mode" "virt-migrate-predict --curve=p" exactly piecewise-linear
    expect "$mode" "virt-migrate-predict --bandwidth 1" contains 1Gbit/s 10Gbit/s 128MiB/s
    expect "$mode" "virt-migrate-predict --downtime " exactly 300ms 500ms 1s
    expect "$mode" "virt-migrate-predict --deadline " exactly 10m 1h
    expect "$mode" "virt-migrate-predict --profile examples/profiles/" contains \
        examples/profiles/1gib-256mib-random.json
    expect "$mode" "virt-migrate-predict --profile examples/" contains examples/profiles
    expect "$mode" "virt-migrate-predict --profile man/" lacks \
        man/meson.build man/virt-migrate-predict.rst
    expect "$mode" "virt-migrate-predict --save-profile tests/compl" exactly tests/completion
    expect "$mode" "virt-migrate-predict --table --profile=examples/profiles/1" exactly \
        examples/profiles/1gib-256mib-random.json
    expect "$mode" "virt-migrate-predict --mode d" exactly dirty-bitmap dirty-ring
    expect "$mode" "virt-migrate-predict --curve h" exactly hybrid
    expect "$mode" "virt-migrate-predict --me" exactly --measure-time
    expect "$mode" "virt-migrate-predict -d g --" lacks --profile
    # --domain may be repeated; a second one rules out --save-profile, which keeps one.
    expect "$mode" "virt-migrate-predict -d g --" contains --domain --all-running --save-profile
    expect "$mode" "virt-migrate-predict -d g --domain h --" lacks --save-profile --profile
    expect "$mode" "virt-migrate-predict --all-running --" lacks --all-running --profile \
        --save-profile
    expect "$mode" "virt-migrate-predict --al" exactly --all-running --allow-auto-converge \
        --allow-postcopy
    expect "$mode" "virt-migrate-predict --allow-postcopy --al" exactly --all-running \
        --allow-auto-converge
    expect "$mode" "virt-migrate-predict --profile x.json --" lacks --all-running
    expect "$mode" "virt-migrate-predict --max-downtime " exactly 300ms 500ms 1s
    # A domain already named is not offered again.
    expect "$mode" "virt-migrate-predict -d guest-one --domain guest" exactly guest-two
    expect "$mode" "virt-migrate-predict --profile x.json --" lacks --domain --connect --save-profile
    expect "$mode" "virt-migrate-predict -c qemu:///system -r -q --" lacks --connect --readonly --quiet
    # --watch: its own options, and --profile goes with --domain and --connect.
    expect "$mode" "virt-migrate-predict --wa" exactly --watch
    expect "$mode" "virt-migrate-predict --ap" lacks --apply
    expect "$mode" "virt-migrate-predict --watch --ap" exactly --apply
    expect "$mode" "virt-migrate-predict --watch -d g --" contains --profile --connect --apply \
        --interval --max-downtime --json --no-qmp
    expect "$mode" "virt-migrate-predict --watch -d g --" lacks --bandwidth --table --watch \
        --domain --save-profile --measure-time
    expect "$mode" "virt-migrate-predict --watch --profile x.json --" contains --domain --connect
    expect "$mode" "virt-migrate-predict --watch --interval " exactly 200ms 500ms 1s
    # ":" breaks words: only what follows the last ":" is completed.
    expect "$mode" "virt-migrate-predict --connect qemu:///s" exactly ///system ///session
    expect "$mode" "virt-migrate-predict --connect=qemu:" exactly ///system ///session
    rm -f "$fake_bin/virsh-args"
    expect "$mode" "virt-migrate-predict -c qemu:///system --domain guest" exactly guest-one guest-two
    checks=$((checks + 1))
    if [[ $(cat "$fake_bin/virsh-args" 2>/dev/null) == "-q -r -c qemu:///system list --name" ]]; then
        echo "ok   [$mode] virsh is asked for the domains of the --connect URI, read-only"
    else
        failures=$((failures + 1))
        echo "FAIL [$mode] virsh is asked for the domains of the --connect URI, read-only"
        echo "     virsh arguments: $(cat "$fake_bin/virsh-args" 2>/dev/null)"
    fi
done

echo "$checks checks, $failures failed"
[[ $failures -eq 0 ]]
