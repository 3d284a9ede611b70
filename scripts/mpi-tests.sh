#!/usr/bin/env bash
# Builds NormKit with the `MPI` package trait and runs normkit-mpi-check under mpirun with 2, 3
# and 4 ranks: SyncBatchNorm over MPIProcessGroup must equal BatchNorm on the whole batch, ranks
# that disagree must all throw, and MPI errors must come back as NormError.
#
# Needs Open MPI: apt-get install -y libopenmpi-dev openmpi-bin
# Each run's output goes to a file (never a pipe: mpirun's daemon would inherit it and hang the
# reader), is printed afterwards, and is bounded by `timeout`.
#
# Environment: MPI_TEST_TIMEOUT (seconds per run, default 300), MPI_TEST_OUT (log folder,
# default .build/mpi-tests), MPI_TEST_RANKS (default "2 3 4").
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
if [ "$status" -eq 0 ]; then echo "mpi-tests: all runs passed"; else echo "mpi-tests: FAILED" >&2; fi
# One line per rank and check, over every run.
echo "mpi: $passed passed, $failed failed"
exit "$status"
