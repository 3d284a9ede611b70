#!/usr/bin/env bash
# Instruction budget: a CI guard for NormKit's kernels that does not depend on timing.
#
# Timings on shared CI machines are too noisy to catch a regression; instruction counts are not.
# For each case in scripts/instruction-budgets.txt (one small tensor per layer family, forward and
# backward), this builds `normkit` in release, runs
#     valgrind --tool=callgrind normkit bench --case CASE --iterations K
# for K = 3 and K = 13 on one thread, and computes the instructions per element of one call,
#     (I(13) − I(3)) / (10 × elements),
# in which start-up, input generation and the warm-up call cancel. A kernel that loses its
# specialization (witness-table calls per element) or allocates in a hot loop costs several times
# its budget.
#
# It prints a table, and exits 1 naming every case whose count exceeds its budget.
#
#   scripts/instruction-budget.sh            # check against the budgets
#   scripts/instruction-budget.sh --update   # rewrite the budgets: measured × 1.25, rounded up
#
# To guard another case, add a line `CASE 0` to the budget file and run --update.
# Needs valgrind (apt-get install -y valgrind). Environment: INSTRUCTION_BUDGET_FILE,
# INSTRUCTION_BUDGET_HEADROOM (default 1.25).
set -euo pipefail
cd "$(dirname "$0")/.."

budget_file="${INSTRUCTION_BUDGET_FILE:-scripts/instruction-budgets.txt}"
# Counts repeat within 0.5% from run to run. A lost specialization costs 50× and more, but one
# allocation per 256-element row only about 35%: a headroom of 1.5 lets that through, 1.25 does not.
headroom="${INSTRUCTION_BUDGET_HEADROOM:-1.25}"
low_iterations=3
high_iterations=13

update=false
case "${1:-}" in
    "") ;;
    --update) update=true ;;
    *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

command -v valgrind >/dev/null 2>&1 || { echo "valgrind not found: apt-get install -y valgrind" >&2; exit 2; }

swift build -c release --product normkit
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# valgrind 3.19 cannot read the DWARF 5 that clang writes for the C kernels, and gives up on the
# whole binary; instruction counts need no debug information, so it runs a stripped copy.
normkit="$work/normkit"
objcopy --strip-debug "$(swift build -c release --product normkit --show-bin-path)/normkit" "$normkit"

# Total instructions of one `normkit bench` run of case $1 with $2 timed calls.
instructions() {
    # The baseline loops (SSE2), which every x86-64 CPU runs: counts must not depend on the CPU.
    NORMKIT_SIMD=baseline NORMKIT_NUM_THREADS=1 SWIFT_DETERMINISTIC_HASHING=1 \
        valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" -q \
        "$normkit" bench --case "$1" --iterations "$2" --threads 1 --bandwidth 1 --json >/dev/null
    local total
    total="$(awk '/^totals:/ { print $2 }' "$work/callgrind.out" 2>/dev/null || true)"
    rm -f "$work/callgrind.out"
    [[ "$total" =~ ^[0-9]+$ && "$total" -gt 0 ]] || { echo "callgrind counted nothing for $1: valgrind failed" >&2; exit 2; }
    echo "$total"
}

# The element count of a case string's shape=AxBx… field.
elements() {
    local shape
    shape="$(tr ',' '\n' <<<"$1" | sed -n 's/^shape=//p')"
    echo $(( ${shape//x/*} ))
}

cases=()
budgets=()
while read -r case_string budget _; do
    [[ -z "$case_string" || "$case_string" == \#* ]] && continue
    cases+=("$case_string")
    budgets+=("$budget")
done <"$budget_file"

printf '%-72s %14s %10s  %s\n' "case" "instr/element" "budget" "status"
failures=()
measured=()
for index in "${!cases[@]}"; do
    case_string="${cases[$index]}"
    budget="${budgets[$index]}"
    low="$(instructions "$case_string" "$low_iterations")"
    high="$(instructions "$case_string" "$high_iterations")"
    per_element="$(awk -v high="$high" -v low="$low" -v calls=$((high_iterations - low_iterations)) \
        -v n="$(elements "$case_string")" 'BEGIN { printf "%.2f", (high - low) / (calls * n) }')"
    measured+=("$per_element")
    if $update; then
        status="measured"
    elif awk -v m="$per_element" -v b="$budget" 'BEGIN { exit !(m > b) }'; then
        status="OVER BUDGET"
        failures+=("$case_string: $per_element instructions per element, budget $budget")
    elif awk -v m="$per_element" -v b="$budget" -v h="$headroom" 'BEGIN { exit !(m * h * h < b) }'; then
        status="ok (far under budget: consider --update)"
    else
        status="ok"
    fi
    printf '%-72s %14s %10s  %s\n' "$case_string" "$per_element" "$budget" "$status"
done

if $update; then
    {
        echo "# Instructions per element of one call (callgrind, one thread), per case: the budget that"
        echo "# scripts/instruction-budget.sh holds each case to. Budget = measured × $headroom, rounded up;"
        echo "# rewritten by \`scripts/instruction-budget.sh --update\`."
        for index in "${!cases[@]}"; do
            budget="$(awk -v m="${measured[$index]}" -v h="$headroom" 'BEGIN { b = m * h; r = int(b * 10); if (r < b * 10) r++; printf "%.1f", r / 10 }')"
            printf '%-72s %s\n' "${cases[$index]}" "$budget"
        done
    } >"$budget_file.new"
    mv "$budget_file.new" "$budget_file"
    echo "wrote $budget_file"
    exit 0
fi

if ((${#failures[@]} > 0)); then
    echo
    echo "instruction budget exceeded (a kernel may have lost its specialization or gained an allocation):" >&2
    printf '  %s\n' "${failures[@]}" >&2
    exit 1
fi
echo
echo "all ${#cases[@]} cases within their instruction budgets"
