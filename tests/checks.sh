# Counting checks for the shell tests (sourced): ok/bad record one, check runs a command as one;
# finish_checks prints the count and fails when any check failed.
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
# check DESCRIPTION COMMAND...: the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
finish_checks() {
    echo "$passed passed, $failed failed"
    ((failed == 0))
}
