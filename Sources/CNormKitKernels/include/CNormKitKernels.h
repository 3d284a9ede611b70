// NormKit's element loops, compiled once per instruction set and chosen at run time.
//
// The library may not pass compiler flags (SwiftPM refuses `unsafeFlags` in dependencies), so a
// default x86-64 build would get SSE2 only. Instead each loop is compiled three times from one
// body (kernels_body.h): for the baseline, for AVX2 + FMA + F16C, and for AVX-512, each under a
// `target` attribute; `nk_kernels()` returns the table of the best set this CPU and its OS
// support (cpuid and xgetbv), or the one `NORMKIT_SIMD=baseline|avx2|avx512` asks for. Other
// architectures (arm64) get the baseline table, in NEON.
//
// Every function works on raw pointers, allocates nothing and validates nothing: NormKit's Swift
// kernels (Sources/NormKit/Kernels) own the blocking, the statistics' numerics and the threads.
// Lanes accumulate in the compute type (float for the 16-bit types) over at most the calls'
// element counts; totals come back in double.
#ifndef CNORMKITKERNELS_H
#define CNORMKITKERNELS_H

#include "half_bits.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Two sums in double.
typedef struct nk_pair {
    double first;
    double second;
} nk_pair;

/// The moments of one statistic group: how many values, their mean, and M2 = Σ(x − mean)².
typedef struct nk_moments {
    double count;
    double mean;
    double m2;
} nk_moments;

/// The instruction sets a table can be compiled for, in increasing order.
typedef enum nk_isa {
    NK_ISA_BASELINE = 0,
    NK_ISA_AVX2 = 1,
    NK_ISA_AVX512 = 2,
} nk_isa;

// One table per element type: the data (x, y, dy, dx) in the storage type S, everything else
// (shifts, coefficients, weights, column sums) in the compute type T. Notation: a *range* is
// `runs` runs of `length` contiguous elements, `stride` elements apart (one run when the data is
// contiguous; a negative stride visits them from the last); *columns* are `rows` rows of
// `columns` contiguous values with one coefficient per column. The writers take `stream`: nonzero
// stores the output past the caches, for outputs too large to stay cached (runs of 64 elements or
// more, 2,048 for 16-bit data; column rows of 1 KiB or more; rows the caller streams). Streamed stores are weakly ordered, and the loops do not
// fence them: whoever runs a loop fences when its chunk ends (nk_store_fence; nk_parallel_for
// does for its chunks).
//
// A streamed row whose storage is not aligned to the vector ends in a cache line that it shares
// with the next row's first elements. affine_row writes that line's two parts together, with
// ordinary stores, before the next row's streamed lines: the last row's part, stored after its
// streamed lines, measured 1.3-2.8x slower (RMSNorm 8192x1024 forward). `tails` says how:
// NK_TAIL_TO_NEXT leaves this row's last elements to the next row's call, which gets
// NK_TAIL_FROM_PREVIOUS and the previous row's coefficients (rows n elements apart, with the same
// w and b). Measured 0.91-1.04x in input_gradient_row (LayerNorm's backward) and 0.97-1.03x in
// column_affine (channels-last GroupNorm), which write each row's last line themselves.
#define NK_TAIL_FROM_PREVIOUS 1
#define NK_TAIL_TO_NEXT 2

// `stream` of column_affine and column_input_gradient: which rows store past the caches. Rows
// of 1 KiB or more (NK_COLUMNS_STREAM_WIDE), and rows of whole vectors up to 256 bytes or as
// short as the loops' register strip (NK_COLUMNS_STREAM_SHORT), which stream as one run whatever
// the output's alignment. Other rows under 1 KiB never stream.
#define NK_COLUMNS_STREAM_WIDE 1
#define NK_COLUMNS_STREAM_SHORT 2
#define NK_DECLARE_TABLE(S, T, SUFFIX)                                                                   \
    typedef struct nk_kernels_##SUFFIX {                                                                 \
        /* y = (x − hi)·a + b over a range (y may be x); `next`, when not NULL, is fetched into L2       \
           (the next group's runs, read while this one is written). */                                   \
        void (*affine_range)(const S *x, S *y, long runs, long length, long stride, T hi, T a, T b,      \
                             int stream, const S *next);                                                 \
        /* affine_range over `runs` consecutive runs of `length` values, each its channel's: run r       \
           takes hi[c], a[c] and b[c] of c = (first + r) mod `channels` (an NCHW tensor's runs from      \
           run `first` on, normalized with given statistics). */                                         \
        void (*channel_runs_affine)(const S *x, S *y, long first, long runs, long channels, long length, \
                                    const T *hi, const T *a, const T *b, int stream);                    \
        /* Adds `runs` runs of `length` values, `stride` apart, to `moments`, in blocks of at most       \
           2,048 values (NK_FOR_EACH_BLOCK), each summed from a shift near its mean and merged           \
           with Chan's formula (Kernels.accumulateRuns). */                                              \
        void (*runs_moments)(const S *x, long runs, long length, long stride, nk_moments *moments);      \
        /* Σdy and Σdy·(x − μ) over runs, in runs_moments' blocks, with μ = hi + lo. */                  \
        nk_pair (*runs_gradient_sums)(const S *x, const S *dy, long runs, long length, long stride, T hi, \
                                      T lo);                                                             \
        /* Σx² of n contiguous values, in runs_moments' blocks. */                                       \
        double (*sum_of_squares)(const S *x, long n);                                                    \
        /* LayerNorm's (`centered`) or RMSNorm's forward pass over `rows` contiguous rows of n values,   \
           one statistic a row: each row's moments (runs_moments, or Σx² when not centered) and          \
           r = 1/√(M2/n + eps) into mean, m2 and invstd, then its affine_row; `stream` streams the rows   \
           (each row's last line to the next row, NK_TAIL_TO_NEXT), and each row fetches the row         \
           `ahead` rows on (0: none) while it writes. */                                                 \
        void (*rows_forward)(const S *x, S *y, long rows, long n, const T *w, const T *b, double eps,    \
                             int centered, int stream, long ahead, double *mean, double *m2,             \
                             double *invstd);                                                            \
        /* GroupNorm's and InstanceNorm's forward pass over `groups` consecutive NCHW groups from        \
           group `first` (`groups_per_sample` a sample; a group is `width` channels of `inner` values),  \
           output unprefetched: each group's moments (runs_moments) and r into mean, m2 and invstd,      \
           then each channel's affine_range with scale r·w[c] and offset b[c], streamed as `stream`. */  \
        void (*groups_forward)(const S *x, S *y, long first, long groups, long groups_per_sample,        \
                               long width, long inner, const T *w, const T *b, double eps, int stream,   \
                               double *mean, double *m2, double *invstd);                                \
        /* The backward pass of the groups of groups_forward, unprefetched, with batch statistics:       \
           each channel's Σdy and Σdy·(x − μ), added to sum_dy[c] and, times r, to sum_dy_xhat[c]        \
           when those are not NULL; then its input gradient, dx = k1·dy − k2·(x − μ) + k3, from the      \
           group's sums, as GradientMode.coefficients. mean and invstd: the groups'. */                  \
        void (*groups_backward)(const S *x, const S *dy, S *dx, long first, long groups,                 \
                                long groups_per_sample, long width, long inner, const T *w,              \
                                const double *mean, const double *invstd, int stream, double *sum_dy,    \
                                double *sum_dy_xhat);                                                    \
        /* y_i = ((x_i − hi) − lo)·r·w_i + b_i over one row; w and b may be NULL (1 and 0); stream,     \
           tails (with the previous row's hi, lo and r) and next as above and as affine_range's. */      \
        void (*affine_row)(const S *x, S *y, long n, T hi, T lo, T r, const T *w, const T *b,           \
                           int stream, int tails, T previous_hi, T previous_lo, T previous_r,            \
                           const S *next);                                                               \
        /* {Σg, Σg·(x − hi)} with g = dy (times w_i when w is not NULL) over a range. */                 \
        nk_pair (*gradient_sums)(const S *x, const S *dy, long runs, long length, long stride, T hi,     \
                                 const T *w);                                                            \
        /* gradient_sums over one row with μ = hi + lo, returning {Σg, Σg·(x − μ)}, and adding           \
           dy_i to sum_dy[i] and dy_i·(x_i − μ)·r to sum_dy_xhat[i]; next_x and next_dy, when not NULL,   \
           the next row's, are fetched into L2 meanwhile. */                                             \
        nk_pair (*row_gradient_sums)(const S *x, const S *dy, long n, T hi, T lo, T r, const T *w,       \
                                     T *sum_dy, T *sum_dy_xhat, const S *next_x, const S *next_dy);      \
        /* dx = k1·dy − k2·(x − hi) + k3 over a range; next_x and next_dy as affine_range's next. */    \
        void (*input_gradient_range)(const S *x, const S *dy, S *dx, long runs, long length, long stride, \
                                     T hi, T k1, T k2, T k3, int stream, const S *next_x,                \
                                     const S *next_dy);                                                  \
        /* dx_i = k1·w_i·dy_i − k2·(x_i − hi) + k3 over one row; stream, next_x and next_dy as the     \
           range loops'. */                                                                              \
        void (*input_gradient_row)(const S *x, const S *dy, S *dx, long n, T hi, T k1, T k2, T k3,       \
                                   const T *w, int stream, const S *next_x, const S *next_dy);           \
        /* input_gradient_row of this row, then row_gradient_sums of the next one (nx, ndy, nhi, nlo,   \
           nr, nw), in one sweep; `after` and `after_dy`, when not NULL, are fetched into L2. */         \
        nk_pair (*input_gradient_row_then_sums)(const S *x, const S *dy, S *dx, long n, T hi, T k1, T k2,  \
                                                T k3, const T *w, int stream, const S *nx, const S *ndy,   \
                                                T nhi, T nlo, T nr, const T *nw, T *sum_dy,                \
                                                T *sum_dy_xhat, const S *after, const S *after_dy);        \
        /* LayerNorm's and RMSNorm's backward pass (`centered` or not) over `rows` contiguous rows of n   \
           values, each its own statistic with batch statistics mean[r] and invstd[r]: each row's sums   \
           (row_gradient_sums with `columns`, 2n values: Σdy then Σdy·x̂ per column, moved into sum_dy    \
           and sum_dy_xhat every 32 rows and at the end; gradient_sums without), then its input          \
           gradient (input_gradient_row, streamed as `stream`), or, when `fuses`, the input gradient    \
           with the next row's sums in one sweep (input_gradient_row_then_sums). The row loops are       \
           `loops`' (this table's or the one for calls past the caches); with `fetch`, each row's sums   \
           fetch the next row into L2 (fused, the row after the next). */                                \
        void (*rows_backward)(const struct nk_kernels_##SUFFIX *loops, const S *x, const S *dy, S *dx,    \
                              long rows, long n, const T *w, const double *mean, const double *invstd,   \
                              int centered, int stream, int fetch, int fuses, T *columns, double *sum_dy, \
                              double *sum_dy_xhat);                                                      \
        /* s1[c] += Σ_r (x[r,c] − k[c]), s2[c] += Σ_r (x[r,c] − k[c])². */                               \
        void (*column_shifted_sums)(const S *x, long rows, long columns, const T *k, T *s1, T *s2);      \
        /* mean[c] and m2[c] (Σ(x − mean)²) of column c of a rows × columns matrix: in blocks of 128     \
           rows summed from a shift near each column's mean, merged with Chan's formula;                 \
           `scratch` holds 3·columns values. */                                                          \
        void (*column_moments)(const S *x, long rows, long columns, T *scratch, double *mean, double *m2); \
        /* y[r,c] = (x[r,c] − hi[c])·a[c] + b[c]; `next`, when not NULL, is fetched into L2 row by row \
           (rows that do not go as one run: see kernels_body.h). */                                      \
        void (*column_affine)(const S *x, S *y, long rows, long columns, const T *hi, const T *a,        \
                              const T *b, int stream, const S *next);                                    \
        /* s1[c] += Σ_r dy[r,c], s2[c] += Σ_r dy[r,c]·(x[r,c] − hi[c]). */                               \
        void (*column_gradient_sums)(const S *x, const S *dy, long rows, long columns, const T *hi,      \
                                     T *s1, T *s2);                                                      \
        /* dx[r,c] = k1[c]·dy[r,c] − k2[c]·(x[r,c] − hi[c]) + k3[c]. */                                  \
        void (*column_input_gradient)(const S *x, const S *dy, S *dx, long rows, long columns,           \
                                      const T *hi, const T *k1, const T *k2, const T *k3, int stream);   \
        /* out[c·rows + r] = in[r·columns + c] for r in [row_begin, row_end): a rows × columns matrix   \
           transposed, bit for bit (a tensor moved between memory formats). */                           \
        void (*transpose)(const S *in, S *out, long rows, long columns, long row_begin, long row_end);   \
    } nk_kernels_##SUFFIX;

NK_DECLARE_TABLE(float, float, f32)
NK_DECLARE_TABLE(double, double, f64)
// 16-bit storage (bit patterns), computed in float: one layout for binary16 and bfloat16.
NK_DECLARE_TABLE(unsigned short, float, half)

/// Conversions between float and the 16-bit formats, given as bit patterns: binary16 (f16) and
/// bfloat16 (bf16). Widening is exact; narrowing rounds to nearest, ties to even, overflows to
/// ±infinity, and keeps NaNs NaN.
typedef struct nk_conversions {
    void (*f16_to_f32)(const unsigned short *in, float *out, long n);
    void (*f32_to_f16)(const float *in, unsigned short *out, long n);
    void (*bf16_to_f32)(const unsigned short *in, float *out, long n);
    void (*f32_to_bf16)(const float *in, unsigned short *out, long n);
} nk_conversions;

/// One table per element type: the loops a call runs, in cache or past the caches (`in_cache`,
/// `beyond_cache` of nk_kernels).
typedef struct nk_type_loops {
    const nk_kernels_f32 *f32;
    const nk_kernels_f64 *f64;
    const nk_kernels_half *f16;
    const nk_kernels_half *bf16;
} nk_type_loops;

/// Every element type's loops, and the 16-bit conversions, compiled for one instruction set.
typedef struct nk_kernels {
    nk_isa isa;
    nk_kernels_f32 f32;
    nk_kernels_f64 f64;
    nk_kernels_half f16;
    nk_kernels_half bf16;
    nk_conversions half;
    /// The row backward loops (row_gradient_sums, input_gradient_row, input_gradient_row_then_sums),
    /// column_affine and column_input_gradient of a call in cache: this table's own.
    nk_type_loops in_cache;
    /// The same loops of a call past the caches: this table's own, except for Float and Double
    /// where this table is AVX-512's: AVX2's (see nk_isa_avx512.c).
    nk_type_loops beyond_cache;
} nk_kernels;

/// The table in use; selected on first use (see the top of this file).
const nk_kernels *nk_kernels_active(void);

/// The size of the last-level cache in bytes (32 MiB where the OS does not say).
long nk_last_level_cache_bytes(void);

/// The size of one core's level-1 data cache in bytes (32 KiB where the OS does not say).
long nk_level1_data_cache_bytes(void);

/// The size of one core's level-2 cache in bytes (1 MiB where the OS does not say).
long nk_level2_cache_bytes(void);

/// Whether the CPU's vendor is Intel (cpuid's "GenuineIntel"); 0 elsewhere and off x86-64.
int nk_cpu_is_intel(void);

/// The best instruction set this CPU and OS support.
nk_isa nk_isa_supported(void);

/// Switches every later call to `isa`, or to the best supported set below it; returns the set
/// now in use.
nk_isa nk_isa_select(nk_isa isa);

/// One chunk of a parallel loop.
typedef void (*nk_task)(void *context, long chunk);

/// Runs task(context, chunk) for every chunk in 0..<chunks on up to `threads` threads, the
/// caller's included, and returns when all are done: 1 if pool workers helped, 0 if the caller
/// ran every chunk itself (one chunk or thread, or the pool busy with another caller's job, or a
/// nested call). Workers spin for 0.2 ms after a job before they sleep (nk_pool.c).
int nk_parallel_for(long chunks, long threads, nk_task task, void *context);

/// Orders the calling thread's streamed stores before its later stores (sfence on x86-64), so
/// that whoever learns a chunk is done also sees its output.
void nk_store_fence(void);

#ifdef __cplusplus
}
#endif

#endif
