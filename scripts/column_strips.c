// Can BatchNorm's training forward over (N, C) input read x once? An experiment, not part of
// NormKit: it times two ways of y = (x − μ)·σ⁻¹ per column on two threads, with AVX-512 and
// streamed stores, on a rows×columns Float matrix that the calls reuse.
//
//   two-sweeps: each thread sums its half of the rows (every column), the halves' sums are
//               merged, then each thread normalizes its half: x is read twice (NormKit's way).
//   strips W:   each thread takes strips of W columns over every row: it sums a strip, then
//               normalizes it while the strip is still in L2 (4096 rows × 16 columns is 256 KiB):
//               x is read once, but as strided lines, one or a few per 4 KiB row, that the
//               hardware does not fetch ahead; rows `prefetch` rows ahead are fetched in software.
//
// Build and run (x86-64 with AVX-512):
//   clang -O2 -mavx512f -pthread scripts/column_strips.c -o /tmp/column_strips -lm
//   /tmp/column_strips 4096 1024
// It prints each way's median over 400 calls; run it a few times, the machine drifts.
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef float vector16 __attribute__((ext_vector_type(16)));
#define LOAD(p) ({ vector16 v_; memcpy(&v_, (p), 64); v_; })

enum { CALLS = 400, THREADS = 2 };
static long rows, columns;
static float *x, *y, *mean, *scale, *partial_sums[THREADS], *partial_squares[THREADS];
static int strip_width, prefetch_rows;  // strip_width 0: two sweeps
static pthread_barrier_t barrier;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// Sums (shifted by the first row) and normalizes one strip of `width` (16 to 64) columns.
static void strip(long first_column, int width) {
    const int vectors = width / 16;
    vector16 shift[4], s1[4] = {0}, s2[4] = {0}, offset[4], factor[4];
    for (int j = 0; j < vectors; j++) shift[j] = LOAD(x + first_column + 16 * j);
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * columns + first_column;
        if (prefetch_rows && r + prefetch_rows < rows)
            for (int j = 0; j < vectors; j++) __builtin_prefetch(row + prefetch_rows * columns + 16 * j, 0, 3);
        for (int j = 0; j < vectors; j++) {
            vector16 d = LOAD(row + 16 * j) - shift[j];
            s1[j] += d;
            s2[j] += d * d;
        }
    }
    for (int j = 0; j < vectors; j++) {
        vector16 m = s1[j] / (float)rows, variance = s2[j] / (float)rows - m * m;
        for (int lane = 0; lane < 16; lane++) variance[lane] = 1.0f / sqrtf(variance[lane] + 1e-5f);
        factor[j] = variance;
        offset[j] = shift[j] + m;
    }
    for (long r = 0; r < rows; r++)
        for (int j = 0; j < vectors; j++) {
            const long at = r * columns + first_column + 16 * j;
            __builtin_nontemporal_store((LOAD(x + at) - offset[j]) * factor[j], (vector16 *)(y + at));
        }
}

static void sum_rows(int thread) {
    float *s1 = partial_sums[thread], *s2 = partial_squares[thread];
    memset(s1, 0, columns * sizeof(float));
    memset(s2, 0, columns * sizeof(float));
    for (long r = rows * thread / THREADS; r < rows * (thread + 1) / THREADS; r++)
        for (long c = 0; c < columns; c += 16) {
            vector16 d = LOAD(x + r * columns + c) - LOAD(x + c), t1 = LOAD(s1 + c) + d, t2 = LOAD(s2 + c) + d * d;
            memcpy(s1 + c, &t1, 64);
            memcpy(s2 + c, &t2, 64);
        }
}

static void normalize_rows(int thread) {
    for (long r = rows * thread / THREADS; r < rows * (thread + 1) / THREADS; r++)
        for (long c = 0; c < columns; c += 16)
            __builtin_nontemporal_store((LOAD(x + r * columns + c) - LOAD(mean + c)) * LOAD(scale + c),
                                        (vector16 *)(y + r * columns + c));
}

static void *worker(void *argument) {
    const int thread = (int)(long)argument;
    for (int call = 0; call < CALLS; call++) {
        pthread_barrier_wait(&barrier);
        if (strip_width == 0) {
            sum_rows(thread);
            pthread_barrier_wait(&barrier);
            if (thread == 0)
                for (long c = 0; c < columns; c++) {
                    const float m = (partial_sums[0][c] + partial_sums[1][c]) / rows;
                    const float m2 = (partial_squares[0][c] + partial_squares[1][c]) / rows;
                    mean[c] = x[c] + m;
                    scale[c] = 1.0f / sqrtf(m2 - m * m + 1e-5f);
                }
            pthread_barrier_wait(&barrier);
            normalize_rows(thread);
        } else {
            const long strips = columns / strip_width;
            for (long s = strips * thread / THREADS; s < strips * (thread + 1) / THREADS; s++) strip(s * strip_width, strip_width);
        }
        __builtin_ia32_sfence();
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

static int compare(const void *a, const void *b) { return *(const double *)a < *(const double *)b ? -1 : 1; }

static double median_microseconds(int width, int prefetch) {
    strip_width = width;
    prefetch_rows = prefetch;
    pthread_t threads[THREADS];
    for (long t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, worker, (void *)t);
    double seconds[CALLS];
    for (int call = 0; call < CALLS; call++) {
        const double start = now();
        for (int wait = 0; wait < (width == 0 ? 4 : 2); wait++) pthread_barrier_wait(&barrier);
        seconds[call] = now() - start;
    }
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    qsort(seconds, CALLS, sizeof seconds[0], compare);
    return seconds[CALLS / 2] * 1e6;
}

int main(int argc, char **argv) {
    rows = argc > 1 ? atol(argv[1]) : 4096;
    columns = argc > 2 ? atol(argv[2]) : 1024;
    if (rows < THREADS || columns < 64 || columns % 64 != 0) return fprintf(stderr, "columns: a multiple of 64\n"), 2;
    x = aligned_alloc(64, rows * columns * sizeof(float));
    y = aligned_alloc(64, rows * columns * sizeof(float));
    mean = aligned_alloc(64, columns * sizeof(float));
    scale = aligned_alloc(64, columns * sizeof(float));
    for (int t = 0; t < THREADS; t++) {
        partial_sums[t] = aligned_alloc(64, columns * sizeof(float));
        partial_squares[t] = aligned_alloc(64, columns * sizeof(float));
    }
    for (long i = 0; i < rows * columns; i++) x[i] = (float)(i % 977) * 0.01f, y[i] = 0;
    pthread_barrier_init(&barrier, NULL, THREADS + 1);
    printf("%ld x %ld Float, %d threads\n", rows, columns, THREADS);
    printf("two sweeps                     %8.1f µs\n", median_microseconds(0, 0));
    const int widths[] = {16, 32, 64};
    for (int i = 0; i < 3; i++)
        for (int prefetch = 0; prefetch <= 16; prefetch += 16)
            printf("strips of %2d columns, fetch %2d %8.1f µs\n", widths[i], prefetch, median_microseconds(widths[i], prefetch));
    return 0;
}
