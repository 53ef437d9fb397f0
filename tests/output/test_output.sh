#!/usr/bin/env bash
# A report nobody received is a failure: stdout full or closed gives status 1 and one error line,
# never a silent 0 that a wrapper would act on.
#   test_output.sh TOOL PROFILE
set -u
tool=$1 profile=$2
failures=0
check() {  # check NAME STATUS EXPECTED_STATUS STDERR NEEDLE
    local name=$1 status=$2 expected=$3 err=$4 needle=$5
    local lines
    lines=$(printf '%s' "$err" | grep -c '')
    if [[ $status -eq $expected && $lines -eq 1 && $err == *"$needle"* ]]; then
        echo "ok: $name: status $status: $err"
    else
        echo "FAIL: $name: status $status (expected $expected), stderr ($lines lines): $err"
        failures=$((failures + 1))
    fi
}
for fmt in "" --json; do
    err=$("$tool" --profile "$profile" --bandwidth 1Gbit/s $fmt 2>&1 >/dev/full)
    check "stdout full ${fmt:-human}" $? 1 "$err" "could not write the report to standard output"
    err=$("$tool" --profile "$profile" --bandwidth 1Gbit/s $fmt 2>&1 >&-)
    check "stdout closed ${fmt:-human}" $? 1 "$err" "standard output is closed"
done
# The same run with stdout writable succeeds: the failures above are the output's.
"$tool" --profile "$profile" --bandwidth 1Gbit/s --json >/dev/null
status=$?
if [[ $status -eq 0 ]]; then echo "ok: stdout writable: 0"; else echo "FAIL: stdout writable: $status"; failures=$((failures + 1)); fi
echo "$failures failed"
[[ $failures -eq 0 ]]
