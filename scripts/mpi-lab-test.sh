#!/usr/bin/env bash
# Runs `normkit lab --quick --backend mpi` under `mpirun -np 2` (data-parallel over two MPI
# processes, SyncBatchNorm over MPIProcessGroup) and checks that it completes and that rank 0
# alone wrote well-formed results.
#
# Builds in release: the lab's SIMD kernels are ~200× slower in a debug build, which would turn
# the seconds of `--quick` into many minutes.
#
# Needs Open MPI: apt-get install -y libopenmpi-dev openmpi-bin
# The run's output goes to a file (never a pipe: mpirun's daemon would inherit it and hang the
# reader), is printed afterwards, and is bounded by `timeout`.
#
# Environment: MPI_TEST_TIMEOUT (seconds, default 300), MPI_LAB_OUT (folder, default
# .build/mpi-lab), MPI_LAB_RANKS (default 2).
set -u
cd "$(dirname "$0")/.."

if ! command -v mpirun >/dev/null || ! pkg-config --exists ompi; then
    echo "mpi-lab-test: Open MPI not found; install it with: apt-get install -y libopenmpi-dev openmpi-bin" >&2
    exit 1
fi

swift build -c release --traits MPI --product normkit || { echo "mpi-lab-test: build failed" >&2; exit 1; }
bin="$(swift build -c release --traits MPI --show-bin-path)/normkit"

out="${MPI_LAB_OUT:-.build/mpi-lab}"
ranks="${MPI_LAB_RANKS:-2}"
rm -rf "$out"
mkdir -p "$out"
flags=(--oversubscribe)
if [ "$(id -u)" = 0 ]; then flags+=(--allow-run-as-root); fi
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"

log="$out/log.txt"
timeout --kill-after=10 "${MPI_TEST_TIMEOUT:-300}" \
    mpirun "${flags[@]}" -np "$ranks" "$bin" lab --quick --backend mpi --no-progress --out "$out/results" \
    >"$log" 2>&1 </dev/null
rc=$?
echo "=== mpirun -np $ranks normkit lab --quick --backend mpi: exit $rc (log: $log) ==="
cat "$log"

fail() { echo "mpi-lab-test: FAILED: $*" >&2; exit 1; }
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then fail "timed out"; fi
[ "$rc" -eq 0 ] || fail "exit status $rc"
csv="$out/results/results.csv"
[ -f "$csv" ] || fail "rank 0 wrote no $csv"
[ "$(head -1 "$csv" | cut -d, -f1-5)" = "normalization,per_rank_batch,ranks,global_batch,seeds" ] || fail "bad header in $csv"
rows=$(($(wc -l <"$csv") - 1))
[ "$rows" -eq 12 ] || fail "$csv has $rows rows, expected 12 (6 normalizations × 2 batch sizes)"
awk -F, -v k="$ranks" 'NR > 1 && $3 != k { bad = 1 } END { exit bad }' "$csv" || fail "$csv: ranks column is not $ranks"
grep -q '^<svg ' "$out/results/accuracy.svg" && grep -q '</svg>' "$out/results/accuracy.svg" || fail "no well-formed accuracy.svg"
writers=$(grep -c '^wrote ' "$log" || true)
[ "$writers" -eq 1 ] || fail "$writers ranks reported writing results, expected only rank 0"
echo "mpi-lab-test: passed ($rows grid points over $ranks MPI ranks; results in $out/results)"
