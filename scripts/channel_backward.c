// How close can BatchNorm's NCHW training backward get to one sweep of memory? An experiment, not
// part of NormKit: on two threads, with AVX-512 and streamed stores, it times ways of computing
// dx = k1·dy − k2·(x − μ) + k3 per channel of N×C×HW Float tensors that the calls reuse, where
// k2 and k3 need the channel's sums Σdy and Σdy·(x − μ) first.
//
//   bare          reads x and dy and writes dx once, channel by channel, each thread over half the
//                 channels, with made-up coefficients: no correct kernel can beat it.
//   sums-only     the channels' sums alone (two thirds of bare's bytes, all of them reads).
//   sums-twice    each channel's sums, then the same sums again while the channel is still in L2:
//                 what reading a channel back from L2 costs.
//   per-channel   each channel's sums, then its dx, reading the channel back from L2 in order
//                 (`reverse`: last runs first), with the next channel fetched into L2 (prefetcht1)
//                 meanwhile (`prefetch`). NormKit's way is reverse with prefetch.
//   fused         each channel's dx in one loop with the next channel's sums.
//   split         both threads on every channel, half of its N runs each, meeting at a spinning
//                 barrier after the sums and after dx: half the L2 footprint per core.
//   two-sweeps    every channel's sums in memory order, then every dx: x and dy read twice.
//
// Build and run (x86-64 with AVX-512):
//   clang -O2 -mavx512f -pthread scripts/channel_backward.c -o /tmp/channel_backward -lm
//   /tmp/channel_backward 32 64 3136      # N C H·W: BatchNorm2d 32×64×56×56
// It prints each way's median over 100 calls; run it a few times, the machine drifts.
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef float vector16 __attribute__((ext_vector_type(16)));
#define LOAD(p) ({ vector16 v_; memcpy(&v_, (p), 64); v_; })

enum { CALLS = 100, THREADS = 2, MAX_CHANNELS = 4096 };
enum way { BARE, SUMS_ONLY, SUMS_TWICE, IN_ORDER, IN_ORDER_PREFETCH, REVERSE, REVERSE_PREFETCH, FUSED, SPLIT, TWO_SWEEPS };
static const char *names[] = {"bare", "sums-only", "sums-twice", "per-channel", "per-channel prefetch", "per-channel reverse",
                              "per-channel reverse prefetch", "fused", "split", "two-sweeps"};
static long N, C, HW;
static enum way way;
static float *x, *dy, *dx, *mean, partial[THREADS][2][MAX_CHANNELS];
static volatile float sink;
static pthread_barrier_t start;
static int spin_count, spin_sense;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float lane_sum(vector16 v) {
    float s = 0;
    for (int l = 0; l < 16; l++) s += v[l];
    return s;
}

static void spin_barrier(int *sense) {
    *sense = !*sense;
    if (__atomic_add_fetch(&spin_count, 1, __ATOMIC_ACQ_REL) == THREADS) {
        spin_count = 0;
        __atomic_store_n(&spin_sense, *sense, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&spin_sense, __ATOMIC_ACQUIRE) != *sense) _mm_pause();
    }
}

static long at(long n, long c) { return (n * C + c) * HW; }

// Σdy and Σdy·(x − μ) of channel c over runs n0..<n1.
static void sums(long c, long n0, long n1, float *s0, float *s1) {
    vector16 a = 0, b = 0, a2 = 0, b2 = 0;
    const float m = mean[c];
    for (long n = n0; n < n1; n++) {
        const float *xp = x + at(n, c), *gp = dy + at(n, c);
        long i = 0;
        for (; i + 32 <= HW; i += 32) {
            vector16 g = LOAD(gp + i), g2 = LOAD(gp + i + 16);
            a += g; a2 += g2;
            b += g * (LOAD(xp + i) - m); b2 += g2 * (LOAD(xp + i + 16) - m);
        }
        for (; i < HW; i++) { a[0] += gp[i]; b[0] += gp[i] * (xp[i] - m); }
    }
    *s0 = lane_sum(a + a2);
    *s1 = lane_sum(b + b2);
}

// dx of one run from offset o; `next`: the same run of the next channel, fetched into L2.
static void gradient_run(long o, long c, float s0, float s1, int next) {
    const float k1 = 1.1f, k2 = s1 / (N * HW) * 1e-3f, k3 = -s0 / (N * HW), m = mean[c];
    const float *xp = x + o, *gp = dy + o;
    float *dp = dx + o;
    long i = 0;
    for (; i + 16 <= HW; i += 16) {
        if (next) { __builtin_prefetch(xp + HW + i, 0, 2); __builtin_prefetch(gp + HW + i, 0, 2); }
        _mm512_stream_ps(dp + i, (__m512)(k1 * LOAD(gp + i) - k2 * (LOAD(xp + i) - m) + k3));
    }
    for (; i < HW; i++) dp[i] = k1 * gp[i] - k2 * (xp[i] - m) + k3;
}

static void per_channel(long c0, long c1, int reverse, int prefetch) {
    for (long c = c0; c < c1; c++) {
        float s0, s1;
        sums(c, 0, N, &s0, &s1);
        for (long j = 0; j < N; j++) gradient_run(at(reverse ? N - 1 - j : j, c), c, s0, s1, prefetch && c + 1 < c1);
    }
}

// dx of channel c with the next channel's sums in the same loop.
static void fused(long c0, long c1) {
    float s0, s1;
    sums(c0, 0, N, &s0, &s1);
    for (long c = c0; c < c1; c++) {
        if (c + 1 == c1) {
            for (long n = 0; n < N; n++) gradient_run(at(n, c), c, s0, s1, 0);
            break;
        }
        const float k1 = 1.1f, k2 = s1 / (N * HW) * 1e-3f, k3 = -s0 / (N * HW), m = mean[c], m2 = mean[c + 1];
        vector16 a = 0, b = 0;
        for (long n = 0; n < N; n++) {
            const float *xp = x + at(n, c), *gp = dy + at(n, c), *xq = xp + HW, *gq = gp + HW;
            float *dp = dx + at(n, c);
            long i = 0;
            for (; i + 16 <= HW; i += 16) {
                _mm512_stream_ps(dp + i, (__m512)(k1 * LOAD(gp + i) - k2 * (LOAD(xp + i) - m) + k3));
                vector16 g = LOAD(gq + i);
                a += g; b += g * (LOAD(xq + i) - m2);
            }
            for (; i < HW; i++) { dp[i] = k1 * gp[i] - k2 * (xp[i] - m) + k3; a[0] += gq[i]; b[0] += gq[i] * (xq[i] - m2); }
        }
        s0 = lane_sum(a);
        s1 = lane_sum(b);
    }
}

static void call(long t, int *sense) {
    const long c0 = t * C / THREADS, c1 = (t + 1) * C / THREADS, n0 = t * N / THREADS, n1 = (t + 1) * N / THREADS;
    float s0, s1, s2, s3;
    switch (way) {
    case BARE:
        for (long c = c0; c < c1; c++) for (long n = 0; n < N; n++) gradient_run(at(n, c), c, 1, 1, 0);
        break;
    case SUMS_ONLY:
        for (long c = c0; c < c1; c++) { sums(c, 0, N, &s0, &s1); sink = s0 + s1; }
        break;
    case SUMS_TWICE:
        for (long c = c0; c < c1; c++) { sums(c, 0, N, &s0, &s1); sums(c, 0, N, &s2, &s3); sink = s0 + s2; }
        break;
    case IN_ORDER: per_channel(c0, c1, 0, 0); break;
    case IN_ORDER_PREFETCH: per_channel(c0, c1, 0, 1); break;
    case REVERSE: per_channel(c0, c1, 1, 0); break;
    case REVERSE_PREFETCH: per_channel(c0, c1, 1, 1); break;
    case FUSED: fused(c0, c1); break;
    case SPLIT:
        for (long c = 0; c < C; c++) {
            sums(c, n0, n1, &partial[t][0][c], &partial[t][1][c]);
            spin_barrier(sense);
            s0 = partial[0][0][c] + partial[1][0][c];
            s1 = partial[0][1][c] + partial[1][1][c];
            for (long n = n0; n < n1; n++) gradient_run(at(n, c), c, s0, s1, c + 1 < C);
            spin_barrier(sense);
        }
        break;
    case TWO_SWEEPS:
        for (long c = 0; c < C; c++) partial[t][0][c] = partial[t][1][c] = 0;
        for (long n = n0; n < n1; n++)
            for (long c = 0; c < C; c++) {
                float a, b;
                sums(c, n, n + 1, &a, &b);
                partial[t][0][c] += a;
                partial[t][1][c] += b;
            }
        spin_barrier(sense);
        for (long n = n0; n < n1; n++)
            for (long c = 0; c < C; c++)
                gradient_run(at(n, c), c, partial[0][0][c] + partial[1][0][c], partial[0][1][c] + partial[1][1][c], 0);
        break;
    }
    _mm_sfence();
}

static void *worker(void *argument) {
    const long t = (long)argument;
    double *times = malloc(CALLS * sizeof *times);
    int sense = 0;
    for (int k = 0; k < CALLS; k++) {
        pthread_barrier_wait(&start);
        const double t0 = now();
        call(t, &sense);
        spin_barrier(&sense);
        times[k] = now() - t0;
    }
    return times;
}

static int by_value(const void *a, const void *b) {
    const double d = *(const double *)a - *(const double *)b;
    return d < 0 ? -1 : d > 0;
}

int main(int argc, char **argv) {
    if (argc != 4 || (C = atol(argv[2])) <= 0 || C > MAX_CHANNELS) {
        fprintf(stderr, "usage: %s N C HW (C at most %d)\n", argv[0], MAX_CHANNELS);
        return 2;
    }
    N = atol(argv[1]);
    HW = atol(argv[3]);
    const long count = N * C * HW;
    x = aligned_alloc(64, count * 4);
    dy = aligned_alloc(64, count * 4);
    dx = aligned_alloc(64, count * 4);
    mean = malloc(C * sizeof *mean);
    for (long i = 0; i < count; i++) { x[i] = (i % 97) * 0.01f; dy[i] = (i % 89) * 0.02f - 0.5f; dx[i] = 0; }
    for (long c = 0; c < C; c++) mean[c] = 0.4f;
    pthread_barrier_init(&start, NULL, THREADS);
    printf("N=%ld C=%ld HW=%ld: %.1f MB a tensor, %.0f KB of x and dy a channel\n", N, C, HW, count * 4e-6, N * HW * 8e-3);
    for (way = BARE; way <= TWO_SWEEPS; way++) {
        pthread_t threads[THREADS];
        for (long t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, worker, (void *)t);
        double *times[THREADS];
        for (long t = 0; t < THREADS; t++) pthread_join(threads[t], (void **)&times[t]);
        qsort(times[0], CALLS, sizeof(double), by_value);
        printf("%-30s %8.3f ms\n", names[way], times[0][CALLS / 2] * 1e3);
        for (long t = 0; t < THREADS; t++) free(times[t]);
    }
    return 0;
}
