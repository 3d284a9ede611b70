#!/usr/bin/env bash
# Builds NormKit with the `MPI` package trait and runs normkit-mpi-check under mpirun:
# 1. with 2, 3 and 4 ranks: SyncBatchNorm over MPIProcessGroup must equal BatchNorm on the whole
#    batch, ranks that disagree must all throw, and MPI errors must come back as NormError;
# 2. `hangs` with 2 and 3 ranks: the misuses that used to hang every rank must end on every rank
#    with a typed error, under a group timeout of 2 s (each run bounded by `timeout 60`); prints
#    each rank's time to failure;
# 3. `abort` with 2 ranks: ranks that time out in the README's step print the error and call
#    MPIProcessGroup.abort(code: 3), and mpirun must end the job with status 3;
# 4. `kill-rank` with 2 ranks: one rank is killed with SIGKILL while the others wait in a barrier
#    with a 30 s timeout; mpirun must end the whole job within 15 s. Prints how long it took.
# Parts 2-4 add about 12 s.
#
# Needs Open MPI: apt-get install -y libopenmpi-dev openmpi-bin
# Each run's output goes to a file (never a pipe: mpirun's daemon would inherit it and hang the
# reader), is printed afterwards, and is bounded by `timeout`.
#
# Environment: MPI_TEST_TIMEOUT (seconds per run of part 1, default 300), MPI_TEST_OUT (log
# folder, default .build/mpi-tests), MPI_TEST_RANKS (part 1, default "2 3 4"), MPI_HANG_RANKS
# (parts 2-4, default "2 3" for part 2; parts 3 and 4 use its first entry).
set -u
cd "$(dirname "$0")/.."

if ! command -v mpirun >/dev/null || ! pkg-config --exists ompi; then
    echo "mpi-tests: Open MPI not found; install it with: apt-get install -y libopenmpi-dev openmpi-bin" >&2
    exit 1
fi

swift build --traits MPI --product normkit-mpi-check || { echo "mpi-tests: build failed" >&2; exit 1; }
bin="$(swift build --traits MPI --show-bin-path)/normkit-mpi-check"

out="${MPI_TEST_OUT:-.build/mpi-tests}"
mkdir -p "$out"
flags=(--oversubscribe)
if [ "$(id -u)" = 0 ]; then flags+=(--allow-run-as-root); fi
# Containers often forbid the cross-memory-attach single copy; shared memory still works without it.
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"

status=0
passed=0
failed=0
for np in ${MPI_TEST_RANKS:-2 3 4}; do
    log="$out/np$np.log"
    timeout --kill-after=10 "${MPI_TEST_TIMEOUT:-300}" \
        mpirun "${flags[@]}" -np "$np" "$bin" >"$log" 2>&1 </dev/null
    rc=$?
    echo "=== mpirun -np $np normkit-mpi-check: exit $rc (log: $log) ==="
    cat "$log"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "mpi-tests: -np $np timed out" >&2; fi
    if [ "$rc" -ne 0 ]; then status=1; fi
    passed=$((passed + $(grep -c '^\[rank .*\] ok ' "$log" || true)))
    failed=$((failed + $(grep -c '^\[rank .*\] FAIL ' "$log" || true)))
    if [ "$rc" -ne 0 ] && ! grep -q '^\[rank .*\] FAIL ' "$log"; then failed=$((failed + 1)); fi
done

# Seconds between an epoch time printed by a rank ("… at 1795735866.972") and now.
since() { awk -v start="$1" -v end="$(date +%s.%N)" 'BEGIN { printf "%.2f", end - start }'; }

hang_ranks=(${MPI_HANG_RANKS:-2 3})
for np in "${hang_ranks[@]}"; do
    log="$out/hangs-np$np.log"
    timeout --kill-after=10 60 mpirun "${flags[@]}" -np "$np" "$bin" hangs 2 >"$log" 2>&1 </dev/null
    rc=$?
    echo "=== mpirun -np $np normkit-mpi-check hangs 2: exit $rc (log: $log) ==="
    cat "$log"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "mpi-tests: hangs -np $np timed out" >&2; fi
    if [ "$rc" -ne 0 ]; then status=1; fi
    passed=$((passed + $(grep -c '^\[rank .*\] ok ' "$log" || true)))
    failed=$((failed + $(grep -c '^\[rank .*\] FAIL ' "$log" || true)))
    if [ "$rc" -ne 0 ] && ! grep -q '^\[rank .*\] FAIL ' "$log"; then failed=$((failed + 1)); fi
done

np="${hang_ranks[0]}"
log="$out/abort-np$np.log"
timeout --kill-after=10 60 mpirun "${flags[@]}" -np "$np" "$bin" abort 2 >"$log" 2>&1 </dev/null
rc=$?
aborted_at="$(grep -o "starting the README's step at [0-9.]*" "$log" | head -1 | awk '{ print $NF }')"
echo "=== mpirun -np $np normkit-mpi-check abort 2: exit $rc (log: $log) ==="
cat "$log"
if [ "$rc" -eq 3 ] && [ -n "$aborted_at" ] && grep -q '^rank [0-9]*: .*allGather timed out on rank' "$log"; then
    echo "mpi-tests: ok   abort after a timeout: mpirun ended the job $(since "$aborted_at") s after the step began (group timeout 2 s), exit 3"
    passed=$((passed + 1))
else
    echo "mpi-tests: FAIL abort after a timeout: exit $rc, expected 3" >&2
    failed=$((failed + 1)); status=1
fi

log="$out/kill-rank-np$np.log"
timeout --kill-after=10 60 mpirun "${flags[@]}" -np "$np" "$bin" kill-rank >"$log" 2>&1 </dev/null
rc=$?
killed_at="$(grep -o 'SIGKILL at [0-9.]*' "$log" | head -1 | awk '{ print $NF }')"
echo "=== mpirun -np $np normkit-mpi-check kill-rank: exit $rc (log: $log) ==="
cat "$log"
if [ -n "$killed_at" ] && [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ! grep -q '^\[rank .*\] FAIL ' "$log" \
    && awk -v s="$(since "$killed_at")" 'BEGIN { exit !(s < 15) }'; then
    echo "mpi-tests: ok   killed rank: mpirun ended the whole job $(since "$killed_at") s after the kill, exit $rc"
    passed=$((passed + 1))
else
    echo "mpi-tests: FAIL killed rank: exit $rc${killed_at:+, $(since "$killed_at") s after the kill}" >&2
    failed=$((failed + 1)); status=1
fi

if [ "$status" -eq 0 ]; then echo "mpi-tests: all runs passed"; else echo "mpi-tests: FAILED" >&2; fi
# One line per rank and check, over every run, plus one each for the abort and the killed rank.
echo "mpi: $passed passed, $failed failed"
exit "$status"
