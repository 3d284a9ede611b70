// The element loops of one element type, included by kernels_isa.h once per type with
// NK_T (the compute type, float or double), NK_S (the storage type of the data: NK_T, or the
// bit patterns of a 16-bit type), NK_STORAGE (see storage_access.h), NK_SUFFIX (f32, f64, f16
// or bf16), NK_TABLE_TYPE (its table's type) and NK_LANES (the vector width) defined. Every
// loop runs two vectors at a time, then one, then scalars, so short runs (a 7×7 feature map)
// stay mostly in vectors.

#define NK_PASTE_(a, b) a##_##b
#define NK_PASTE(a, b) NK_PASTE_(a, b)
#define NK_FN(name) NK_PASTE(name, NK_SUFFIX)
#define NK_V NK_FN(nk_vector)
#define NK_SV NK_FN(nk_storage_vector)

typedef NK_T NK_V __attribute__((ext_vector_type(NK_LANES)));
typedef NK_S NK_SV __attribute__((ext_vector_type(NK_LANES)));

// Macros rather than functions, so that no vector crosses a call (a 256-bit vector argument in
// the baseline file would change the ABI). NK_LOAD and NK_STORE move compute-type vectors
// (coefficients, column sums); the data goes through NK_XLOAD, NK_XPUT, NK_XGET and NK_XSET,
// which convert to and from the storage type (storage_access.h).
#define NK_LOAD(p) ({ NK_V nk_v_; __builtin_memcpy(&nk_v_, (p), sizeof nk_v_); nk_v_; })
#define NK_STORE(p, v) ({ NK_V nk_s_ = (v); __builtin_memcpy((p), &nk_s_, sizeof nk_s_); })
// A store that bypasses the caches when `stream` is set (output too large to stay cached: no read
// for ownership of each line, and the caches keep the input); it needs an aligned address, so
// streaming loops first run NK_PEEL scalar elements. The range loops stream only runs of at
// least NK_STREAM_MIN_LENGTH elements; the row loops (LayerNorm, RMSNorm) stream when the caller
// asks (rows of 4 KiB or more; LayerNorm's Float and Double forward rows of 2 KiB or more).
// Float and Double runs of 64 elements (an 8×8 map) and more gain streamed, beyond L3, against
// ordinary stores (builds alternating, two threads): BatchNorm2d forward on 8×8, 12×12, 14×14
// and 28×28 maps 1.28×, 1.35×, 1.28–1.35× and 1.44×, backward 1.22–1.36×; GroupNorm 16×16 and
// 32×32 maps forward 1.25–1.43× and 1.01–1.35×, backward 1.16–1.44×; BatchNorm1d 64×256×1024
// 1.08–1.10×; in Double, 14×14 and 28×28 maps 1.63× and 1.94×. Runs of 49 (7×7) measured slower
// (Float 0.87×, Double 0.88×), and so did 16-bit runs under 2,048 (bfloat16 16×16 maps 0.69×,
// 28×28 0.98×): they keep ordinary stores.
#if NK_STORAGE == NK_STORAGE_SAME
#define NK_STREAM_MIN_LENGTH 64
#else
#define NK_STREAM_MIN_LENGTH 2048
#endif
// column_affine and column_input_gradient stream rows row by row from this many bytes: shorter
// ones, each peeled to the vector alignment, measured up to 1.8× slower streamed, their lines
// split between rows. Shorter rows of whole vectors stream as one run (NK_ROTATE).
#define NK_STREAM_MIN_ROW_BYTES 1024
#define NK_SPUT(stream, p, sv)                                        \
    ({                                                                \
        NK_SV nk_p_ = (sv);                                           \
        if (stream) __builtin_nontemporal_store(nk_p_, (NK_SV *)(p)); \
        else __builtin_memcpy((p), &nk_p_, sizeof nk_p_);             \
    })
/// The elements of `n` from `q` before an address that is a multiple of `bytes`, when streamed.
#define NK_PEEL_TO(stream, q, n, bytes) \
    ((stream) ? NK_MIN((long)(((bytes) - (unsigned long)(q) % (bytes)) % (bytes) / sizeof(NK_S)), (n)) : 0)
#define NK_PEEL(stream, q, n) NK_PEEL_TO(stream, q, n, sizeof(NK_SV))
// Streamed rows of the backward pass store whole cache lines only: peeled to the line, not only
// to the vector, and ended at a line, so that no line takes streamed and ordinary stores both.
// A line whose first half was streamed and whose second half was then stored ordinarily (a row's
// last elements, or the next row's first) measured 1.7–1.9× slower (AVX2 vectors, LayerNorm rows
// of 1024 Float, dx 48 bytes past a line).
#define NK_LINE_BYTES 64
#define NK_LINE_PEEL(stream, q, n) NK_PEEL_TO(stream, q, n, NK_LINE_BYTES)
#define NK_LINE_VECTORS (sizeof(NK_SV) >= NK_LINE_BYTES ? 1 : NK_LINE_BYTES / (long)sizeof(NK_SV))
/// The most of `vectors` vectors from a line boundary that end on one, when streamed.
#define NK_WHOLE_LINES(stream, vectors) ((stream) ? (vectors) / NK_LINE_VECTORS * NK_LINE_VECTORS : (vectors))
// Fetches the cache lines of `bytes` bytes from `p` into L2 (prefetcht1), for a loop that reads
// the next statistic group while it writes this one's output (see affine_range).
#define NK_PREFETCH(p, bytes)                                                 \
    ({                                                                        \
        for (long nk_b_ = 0; nk_b_ < (long)(bytes); nk_b_ += 64)              \
            __builtin_prefetch((const char *)(p) + nk_b_, 0, 2); /* 2: T1 */ \
    })
#define NK_LANE_SUM(v) ({ NK_V nk_l_ = (v); NK_T nk_t_ = 0; for (int l = 0; l < NK_LANES; l++) nk_t_ += nk_l_[l]; nk_t_; })
#define NK_SPLAT(value) ((NK_V)(value))

#include "storage_access.h"

static nk_pair NK_FN(shifted_sums)(const NK_S *x, long runs, long length, long stride, NK_T k) {
    NK_V kv = NK_SPLAT(k), a1 = 0, a2 = 0, b1 = 0, b2 = 0;
    double s1 = 0, s2 = 0;
    for (long run = 0; run < runs; run++) {
        const NK_S *p = x + run * stride;
        long i = 0;
        for (; i + 2 * NK_LANES <= length; i += 2 * NK_LANES) {
            NK_V u = NK_XLOAD(p + i) - kv, v = NK_XLOAD(p + i + NK_LANES) - kv;
            a1 += u; a2 += u * u; b1 += v; b2 += v * v;
        }
        for (; i + NK_LANES <= length; i += NK_LANES) {
            NK_V u = NK_XLOAD(p + i) - kv;
            a1 += u; a2 += u * u;
        }
        for (; i < length; i++) {
            double d = (double)(NK_XGET(p + i) - k);
            s1 += d; s2 += d * d;
        }
    }
    s1 += (double)NK_LANE_SUM(a1 + b1);
    s2 += (double)NK_LANE_SUM(a2 + b2);
    return (nk_pair){s1, s2};
}

// `next`, when not NULL, is the next group's data (the same runs): its lines are fetched into L2
// while this group's output is written, so that the next statistics pass reads from cache and
// the memory system reads and writes at once instead of in turns.
static void NK_FN(affine_range)(const NK_S *x, NK_S *y, long runs, long length, long stride, NK_T hi, NK_T a,
                                NK_T b, int stream, const NK_S *next) {
    stream = stream && length >= NK_STREAM_MIN_LENGTH;
    NK_V hv = NK_SPLAT(hi), av = NK_SPLAT(a), bv = NK_SPLAT(b);
    for (long run = 0; run < runs; run++) {
        const NK_S *p = x + run * stride, *f = next ? next + run * stride : NULL;
        NK_S *q = y + run * stride;
        long i = 0;
        for (const long peel = NK_PEEL(stream, q, length); i < peel; i++) NK_XSET(q + i, (NK_XGET(p + i) - hi) * a + b);
        for (; i + 2 * NK_LANES <= length; i += 2 * NK_LANES) {
            if (f) NK_PREFETCH(f + i, 2 * NK_LANES * sizeof(NK_S));
            NK_V u = NK_XLOAD(p + i), v = NK_XLOAD(p + i + NK_LANES);
            NK_XPUT(stream, q + i, (u - hv) * av + bv);
            NK_XPUT(stream, q + i + NK_LANES, (v - hv) * av + bv);
        }
        for (; i + NK_LANES <= length; i += NK_LANES) NK_XPUT(stream, q + i, (NK_XLOAD(p + i) - hv) * av + bv);
        for (; i < length; i++) NK_XSET(q + i, (NK_XGET(p + i) - hi) * a + b);
    }
}

static void NK_FN(channel_runs_affine)(const NK_S *x, NK_S *y, long first, long runs, long channels, long length,
                                       const NK_T *hi, const NK_T *a, const NK_T *b, int stream) {
    long c = first % channels;
    for (long r = 0; r < runs; r++) {
        NK_FN(affine_range)(x + r * length, y + r * length, 1, length, length, hi[c], a[c], b[c], stream, NULL);
        if (++c == channels) c = 0;
    }
}

// One element of affine_row, with its w and b (NULL: 1 and 0).
#define NK_AFFINE_ELEMENT(xp, yp, j, hi, lo, r) \
    NK_XSET((yp) + (j), ((NK_XGET((xp) + (j)) - (hi)) - (lo)) * (r) * (w ? w[j] : 1) + (b ? b[j] : 0))
// One element of input_gradient_row, with its w (NULL: 1).
#define NK_GRADIENT_ELEMENT(j) \
    NK_XSET(dx + (j), k1 * (w ? w[j] : 1) * NK_XGET(dy + (j)) - k2 * (NK_XGET(x + (j)) - hi) + k3)
// One vector of input_gradient_row at element i, with w, and without.
#define NK_WEIGHTED_GRADIENT_VECTOR(i) (k1v * NK_LOAD(w + (i)) * NK_XLOAD(dy + (i)) - k2v * (NK_XLOAD(x + (i)) - hv) + k3v)
#define NK_GRADIENT_VECTOR(i) (k1v * NK_XLOAD(dy + (i)) - k2v * (NK_XLOAD(x + (i)) - hv) + k3v)
// Where a streamed row's vector stores end: its elements from there on share a cache line with
// the next row's first ones (the rows of a tensor whose storage is not aligned to the vector).
#define NK_ROW_TAIL(stream, q, n) \
    ({ const long nk_h_ = NK_PEEL(stream, q, n); nk_h_ + ((n) - nk_h_) / NK_LANES * NK_LANES; })

static void NK_FN(affine_row)(const NK_S *x, NK_S *y, long n, NK_T hi, NK_T lo, NK_T r, const NK_T *w,
                              const NK_T *b, int stream, int tails, NK_T previous_hi, NK_T previous_lo,
                              NK_T previous_r, const NK_S *next) {
    if (stream && (tails & NK_TAIL_FROM_PREVIOUS))
        for (long j = NK_ROW_TAIL(stream, y - n, n); j < n; j++)
            NK_AFFINE_ELEMENT(x - n, y - n, j, previous_hi, previous_lo, previous_r);
    NK_V hv = NK_SPLAT(hi), lv = NK_SPLAT(lo), rv = NK_SPLAT(r);
    long i = 0;
    for (const long peel = NK_PEEL(stream, y, n); i < peel; i++) NK_AFFINE_ELEMENT(x, y, i, hi, lo, r);
    if (w && b) {
        for (; i + NK_LANES <= n; i += NK_LANES) {
            if (next) NK_PREFETCH(next + i, NK_LANES * sizeof(NK_S));
            NK_XPUT(stream, y + i, ((NK_XLOAD(x + i) - hv) - lv) * rv * NK_LOAD(w + i) + NK_LOAD(b + i));
        }
    } else if (w) {
        for (; i + NK_LANES <= n; i += NK_LANES) {
            if (next) NK_PREFETCH(next + i, NK_LANES * sizeof(NK_S));
            NK_XPUT(stream, y + i, ((NK_XLOAD(x + i) - hv) - lv) * rv * NK_LOAD(w + i));
        }
    } else {
        for (; i + NK_LANES <= n; i += NK_LANES) {
            if (next) NK_PREFETCH(next + i, NK_LANES * sizeof(NK_S));
            NK_V v = ((NK_XLOAD(x + i) - hv) - lv) * rv;
            NK_XPUT(stream, y + i, b ? v + NK_LOAD(b + i) : v);
        }
    }
    if (stream && (tails & NK_TAIL_TO_NEXT)) return;
    for (; i < n; i++) NK_AFFINE_ELEMENT(x, y, i, hi, lo, r);
}

// Fetches the lines of the next row's x and dy (next_x, next_dy, at the element the sums loops
// are at) into L2, when next_x is not NULL: the row backward loops beyond the caches fetch the
// next row while they sum this one, so that memory reads while the sums read it and while the
// input gradient is written, where fetching during the input gradient alone left it idle while
// the row was summed (see rows_backward).
#define NK_FETCH_NEXT_ROW(next_x, next_dy, i, elements)                     \
    ({                                                                      \
        if (next_x) {                                                       \
            NK_PREFETCH((next_x) + (i), (elements) * sizeof(NK_S));         \
            NK_PREFETCH((next_dy) + (i), (elements) * sizeof(NK_S));        \
        }                                                                   \
    })

// gradient_sums, fetching the next row as NK_FETCH_NEXT_ROW (next_x is NULL unless runs is 1).
__attribute__((always_inline)) static inline nk_pair NK_FN(gradient_sums_fetching)(
    const NK_S *x, const NK_S *dy, long runs, long length, long stride, NK_T hi, const NK_T *w, const NK_S *next_x,
    const NK_S *next_dy) {
    NK_V hv = NK_SPLAT(hi), a1 = 0, a2 = 0, b1 = 0, b2 = 0;
    double t1 = 0, t2 = 0;
    for (long run = 0; run < runs; run++) {
        const NK_S *p = x + run * stride, *g = dy + run * stride;
        long i = 0;
        if (w) {
            for (; i + NK_LANES <= length; i += NK_LANES) {
                NK_FETCH_NEXT_ROW(next_x, next_dy, i, NK_LANES);
                NK_V gv = NK_XLOAD(g + i) * NK_LOAD(w + i);
                a1 += gv; a2 += gv * (NK_XLOAD(p + i) - hv);
            }
        } else {
            for (; i + 2 * NK_LANES <= length; i += 2 * NK_LANES) {
                NK_FETCH_NEXT_ROW(next_x, next_dy, i, 2 * NK_LANES);
                NK_V gu = NK_XLOAD(g + i), gv = NK_XLOAD(g + i + NK_LANES);
                a1 += gu; a2 += gu * (NK_XLOAD(p + i) - hv);
                b1 += gv; b2 += gv * (NK_XLOAD(p + i + NK_LANES) - hv);
            }
            for (; i + NK_LANES <= length; i += NK_LANES) {
                NK_V gu = NK_XLOAD(g + i);
                a1 += gu; a2 += gu * (NK_XLOAD(p + i) - hv);
            }
        }
        for (; i < length; i++) {
            NK_T gi = w ? NK_XGET(g + i) * w[i] : NK_XGET(g + i);
            t1 += (double)gi;
            t2 += (double)(gi * (NK_XGET(p + i) - hi));
        }
    }
    t1 += (double)NK_LANE_SUM(a1 + b1);
    t2 += (double)NK_LANE_SUM(a2 + b2);
    return (nk_pair){t1, t2};
}

static nk_pair NK_FN(gradient_sums)(const NK_S *x, const NK_S *dy, long runs, long length, long stride, NK_T hi,
                                    const NK_T *w) {
    return NK_FN(gradient_sums_fetching)(x, dy, runs, length, stride, hi, w, NULL, NULL);
}

// The row sums Σg and Σg·d gather in the same lanes in every instruction set: each 16 elements
// from a row's start, the first 8 into the lanes of accumulators s1 and s2, the next 8 into those
// of b1 and b2, in order (8-lane vectors alternate, AVX-512 adds each 16-lane vector's halves).
// So every set's loops give a row the same sums, to the bit (AVX2 and AVX-512; the baseline has
// no fused multiply-add), and a call may run another set's loops than its 16-bit twin does
// (beyond_cache in CNormKitKernels.h) and still give it the same results; and the two
// accumulators keep two additions in flight.
#define NK_ROW_LANES 8
typedef NK_T NK_FN(nk_row_vector) __attribute__((ext_vector_type(NK_ROW_LANES)));
#define NK_RV NK_FN(nk_row_vector)
#define NK_ROW_LANE_SUM(v) ({ NK_RV nk_l_ = (v); NK_T nk_t_ = 0; for (int l = 0; l < NK_ROW_LANES; l++) nk_t_ += nk_l_[l]; nk_t_; })
#if NK_LANES == 2 * NK_ROW_LANES
#define NK_LOW(v) __builtin_shufflevector((v), (v), 0, 1, 2, 3, 4, 5, 6, 7)
#define NK_HIGH(v) __builtin_shufflevector((v), (v), 8, 9, 10, 11, 12, 13, 14, 15)
/// Adds wg and wg·d of the vector at element j (a multiple of 16) to the lanes.
#define NK_ROW_ACCUMULATE(j, wg, d)                        \
    ({                                                     \
        NK_V wg2_ = (wg), d2_ = (d);                       \
        s1 = s1 + NK_LOW(wg2_);                            \
        s2 = s2 + NK_LOW(wg2_) * NK_LOW(d2_);              \
        b1 = b1 + NK_HIGH(wg2_);                           \
        b2 = b2 + NK_HIGH(wg2_) * NK_HIGH(d2_);            \
    })
#elif NK_LANES == NK_ROW_LANES
/// Adds wg and wg·d of the vector at element j (a multiple of 8) to the lanes.
#define NK_ROW_ACCUMULATE(j, wg, d)                        \
    ({                                                     \
        NK_V wg2_ = (wg), d2_ = (d);                       \
        if ((j) & NK_ROW_LANES) {                          \
            b1 = b1 + wg2_;                                \
            b2 = b2 + wg2_ * d2_;                          \
        } else {                                           \
            s1 = s1 + wg2_;                                \
            s2 = s2 + wg2_ * d2_;                          \
        }                                                  \
    })
#else
#error "the row sums gather in lanes of 8: NK_LANES must be 8 or 16"
#endif
// One vector of row_gradient_sums at element j: the column sums, and Σg, Σg·d into s1, s2.
// Its fusion with input_gradient_row below runs the same steps, so both give the same bits.
#define NK_ROW_SUMS_VECTOR(x, dy, j, hv, lv, rv, w)                                          \
    ({                                                                                       \
        NK_V d_ = (NK_XLOAD((x) + (j)) - (hv)) - (lv), g_ = NK_XLOAD((dy) + (j));            \
        NK_STORE(sum_dy + (j), NK_LOAD(sum_dy + (j)) + g_);                                  \
        NK_STORE(sum_dy_xhat + (j), NK_LOAD(sum_dy_xhat + (j)) + g_ * (d_ * (rv)));          \
        NK_ROW_ACCUMULATE(j, (w) ? NK_LOAD((w) + (j)) * g_ : g_, d_);                        \
    })
// One element j of the row at a time: adds it to the column sums, and sets wg_ and d_.
#define NK_ROW_SUMS_ELEMENT(x, dy, j, hi, lo, r, w, wg_, d_)                     \
    ({                                                                           \
        NK_T g_ = NK_XGET((dy) + (j));                                           \
        d_ = (NK_XGET((x) + (j)) - (hi)) - (lo);                                 \
        sum_dy[j] += g_;                                                         \
        sum_dy_xhat[j] += g_ * (d_ * (r));                                       \
        wg_ = (w) ? (w)[j] * g_ : g_;                                            \
    })
// Its elements from `from` (where the vectors ended) on, then the lanes join them, into t1 and
// t2: first, with 16-lane vectors, eight more elements into s1 and s2 when eight are left (as an
// 8-lane vector there would add them), then the rest one by one.
#define NK_ROW_SUMS_TAIL(x, dy, from, n, hi, lo, r, w)                            \
    ({                                                                            \
        long j_ = (from);                                                         \
        if (NK_LANES > NK_ROW_LANES && (n) - j_ >= NK_ROW_LANES) {                \
            NK_RV wgs_, ds_;                                                      \
            for (int l_ = 0; l_ < NK_ROW_LANES; l_++, j_++)                       \
                NK_ROW_SUMS_ELEMENT(x, dy, j_, hi, lo, r, w, wgs_[l_], ds_[l_]);  \
            s1 = s1 + wgs_;                                                       \
            s2 = s2 + wgs_ * ds_;                                                 \
        }                                                                         \
        for (; j_ < (n); j_++) {                                                  \
            NK_T wg_, d_;                                                         \
            NK_ROW_SUMS_ELEMENT(x, dy, j_, hi, lo, r, w, wg_, d_);                \
            t1 += (double)wg_;                                                    \
            t2 += (double)(wg_ * d_);                                             \
        }                                                                         \
        t1 += (double)NK_ROW_LANE_SUM(s1 + b1);                                   \
        t2 += (double)NK_ROW_LANE_SUM(s2 + b2);                                   \
    })

static nk_pair NK_FN(row_gradient_sums)(const NK_S *x, const NK_S *dy, long n, NK_T hi, NK_T lo, NK_T r,
                                        const NK_T *w, NK_T *sum_dy, NK_T *sum_dy_xhat, const NK_S *next_x,
                                        const NK_S *next_dy) {
    NK_V hv = NK_SPLAT(hi), lv = NK_SPLAT(lo), rv = NK_SPLAT(r);
    NK_RV s1 = 0, s2 = 0, b1 = 0, b2 = 0;
    double t1 = 0, t2 = 0;
    long i = 0;
    if (next_x) {  // a loop of its own: calls in cache (next_x NULL) keep one free of the test
        for (; i + NK_LANES <= n; i += NK_LANES) {
            NK_FETCH_NEXT_ROW(next_x, next_dy, i, NK_LANES);
            NK_ROW_SUMS_VECTOR(x, dy, i, hv, lv, rv, w);
        }
    }
    for (; i + NK_LANES <= n; i += NK_LANES) NK_ROW_SUMS_VECTOR(x, dy, i, hv, lv, rv, w);
    NK_ROW_SUMS_TAIL(x, dy, i, n, hi, lo, r, w);
    return (nk_pair){t1, t2};
}

// next_x and next_dy: as affine_range's `next`.
static void NK_FN(input_gradient_range)(const NK_S *x, const NK_S *dy, NK_S *dx, long runs, long length,
                                        long stride, NK_T hi, NK_T k1, NK_T k2, NK_T k3, int stream,
                                        const NK_S *next_x, const NK_S *next_dy) {
    stream = stream && length >= NK_STREAM_MIN_LENGTH;
    NK_V hv = NK_SPLAT(hi), k1v = NK_SPLAT(k1), k2v = NK_SPLAT(k2), k3v = NK_SPLAT(k3);
    for (long run = 0; run < runs; run++) {
        long offset = run * stride, i = 0;
        const NK_S *p = x + offset, *g = dy + offset;
        const NK_S *fx = next_x ? next_x + offset : NULL, *fg = next_dy ? next_dy + offset : NULL;
        NK_S *q = dx + offset;
        for (const long peel = NK_PEEL(stream, q, length); i < peel; i++)
            NK_XSET(q + i, k1 * NK_XGET(g + i) - k2 * (NK_XGET(p + i) - hi) + k3);
        for (; i + 2 * NK_LANES <= length; i += 2 * NK_LANES) {
            if (fx) NK_PREFETCH(fx + i, 2 * NK_LANES * sizeof(NK_S));
            if (fg) NK_PREFETCH(fg + i, 2 * NK_LANES * sizeof(NK_S));
            NK_XPUT(stream, q + i, k1v * NK_XLOAD(g + i) - k2v * (NK_XLOAD(p + i) - hv) + k3v);
            NK_XPUT(stream, q + i + NK_LANES, k1v * NK_XLOAD(g + i + NK_LANES) - k2v * (NK_XLOAD(p + i + NK_LANES) - hv) + k3v);
        }
        for (; i + NK_LANES <= length; i += NK_LANES)
            NK_XPUT(stream, q + i, k1v * NK_XLOAD(g + i) - k2v * (NK_XLOAD(p + i) - hv) + k3v);
        for (; i < length; i++) NK_XSET(q + i, k1 * NK_XGET(g + i) - k2 * (NK_XGET(p + i) - hi) + k3);
    }
}

// `stream` stores dx past the caches (LayerNorm's rows beyond them): every dx line otherwise
// waits for its read for ownership, and the next row's statistics pass, whose two stores a vector
// into the weight and bias gradient sums queue behind those lines in the store buffer, stalls
// with it. LayerNorm 8192x1024 backward took 1.6× the time of the same pass without weight and
// bias; streamed, 1.2× less.
static void NK_FN(input_gradient_row)(const NK_S *x, const NK_S *dy, NK_S *dx, long n, NK_T hi, NK_T k1, NK_T k2,
                                      NK_T k3, const NK_T *w, int stream, const NK_S *next_x, const NK_S *next_dy) {
    if (!w && !stream) {
        NK_FN(input_gradient_range)(x, dy, dx, 1, n, n, hi, k1, k2, k3, 0, next_x, next_dy);
        return;
    }
    NK_V hv = NK_SPLAT(hi), k1v = NK_SPLAT(k1), k2v = NK_SPLAT(k2), k3v = NK_SPLAT(k3);
    long i = 0;
    for (const long peel = NK_LINE_PEEL(stream, dx, n); i < peel; i++) NK_GRADIENT_ELEMENT(i);
    const long end = i + NK_WHOLE_LINES(stream, (n - i) / NK_LANES) * NK_LANES;
    if (w) {
        for (; i < end; i += NK_LANES) {
            if (next_x) NK_PREFETCH(next_x + i, NK_LANES * sizeof(NK_S));
            if (next_dy) NK_PREFETCH(next_dy + i, NK_LANES * sizeof(NK_S));
            NK_XPUT(stream, dx + i, NK_WEIGHTED_GRADIENT_VECTOR(i));
        }
    } else {
        for (; i < end; i += NK_LANES) {
            if (next_x) NK_PREFETCH(next_x + i, NK_LANES * sizeof(NK_S));
            if (next_dy) NK_PREFETCH(next_dy + i, NK_LANES * sizeof(NK_S));
            NK_XPUT(stream, dx + i, NK_GRADIENT_VECTOR(i));
        }
    }
    for (; i < n; i++) NK_GRADIENT_ELEMENT(i);
}

// input_gradient_row of this row fused with row_gradient_sums of the next one (nx, ndy: its x and
// dy; nhi, nlo, nr: its mean and 1/σ; nw: its w), which it returns: the next row streams in from
// memory while this row, in L1 since its own sums pass, is written. The sums go through the
// same lanes in the same order as row_gradient_sums, so they are the same to the bit. `after`,
// when not NULL, is the row after the next (x, then dy at `after_dy`), fetched into L2.
static nk_pair NK_FN(input_gradient_row_then_sums)(const NK_S *x, const NK_S *dy, NK_S *dx, long n, NK_T hi, NK_T k1,
                                                   NK_T k2, NK_T k3, const NK_T *w, int stream, const NK_S *nx,
                                                   const NK_S *ndy, NK_T nhi, NK_T nlo, NK_T nr, const NK_T *nw,
                                                   NK_T *sum_dy, NK_T *sum_dy_xhat, const NK_S *after,
                                                   const NK_S *after_dy) {
    NK_V hv = NK_SPLAT(hi), k1v = NK_SPLAT(k1), k2v = NK_SPLAT(k2), k3v = NK_SPLAT(k3);
    NK_V nhv = NK_SPLAT(nhi), nlv = NK_SPLAT(nlo), nrv = NK_SPLAT(nr);
    NK_RV s1 = 0, s2 = 0, b1 = 0, b2 = 0;
    double t1 = 0, t2 = 0;
    const long peel = NK_LINE_PEEL(stream, dx, n), gradient_vectors = NK_WHOLE_LINES(stream, (n - peel) / NK_LANES);
    const long sum_vectors = n / NK_LANES;
    for (long i = 0; i < peel; i++) NK_GRADIENT_ELEMENT(i);
    long v = 0;
    // The loop over the vectors both sweeps cover, once per gradient expression (w or none).
#define NK_FUSED_VECTORS(GRADIENT_VECTOR)                                 \
    for (; v < gradient_vectors; v++) {                                   \
        const long i = peel + v * NK_LANES, j = v * NK_LANES;             \
        if (after) NK_PREFETCH(after + j, NK_LANES * sizeof(NK_S));       \
        if (after_dy) NK_PREFETCH(after_dy + j, NK_LANES * sizeof(NK_S)); \
        NK_ROW_SUMS_VECTOR(nx, ndy, j, nhv, nlv, nrv, nw);                \
        NK_XPUT(stream, dx + i, GRADIENT_VECTOR(i));                      \
    }
    if (w) {
        NK_FUSED_VECTORS(NK_WEIGHTED_GRADIENT_VECTOR)
    } else {
        NK_FUSED_VECTORS(NK_GRADIENT_VECTOR)
    }
#undef NK_FUSED_VECTORS
    for (; v < sum_vectors; v++) NK_ROW_SUMS_VECTOR(nx, ndy, v * NK_LANES, nhv, nlv, nrv, nw);
    for (long i = peel + gradient_vectors * NK_LANES; i < n; i++) NK_GRADIENT_ELEMENT(i);
    NK_ROW_SUMS_TAIL(nx, ndy, sum_vectors * NK_LANES, n, nhi, nlo, nr, nw);
    return (nk_pair){t1, t2};
}

// Columns go row by row, so that memory streams in order while the per-column sums and
// coefficients stay in L1. (Strips of columns with their sums in registers take fewer
// instructions but measured 20–50% slower beyond L2: their strided loads stall.) column_affine
// streams its stores row by row when asked, each row peeled to the vector alignment: GroupNorm
// 16x256x32x32 channels-last forward 1.16× faster.

// A row of at most NK_STRIP vectors keeps its column sums (or coefficients) in registers over all
// the rows: the data still streams in order, and the per-row loads and stores of the sums (or
// loads of the coefficients) are gone.
#define NK_STRIP 4
// Wider rows add NK_ROWS rows to the column sums per load and store of them.
#define NK_ROWS 4
/// dst[j] = the j-th vector from `src`, for a strip's first `vectors` vectors.
#define NK_LOAD_STRIP(dst, src, vectors)                                    \
    ({                                                                      \
        for (int j = 0; j < NK_STRIP; j++)                                  \
            if (j < (vectors)) (dst)[j] = NK_LOAD((src) + j * NK_LANES);    \
    })
/// The coefficients `src` of a row of `columns` as its vectors start `shift` (< NK_LANES) columns
/// into the row: dst[c] = src[(shift + c) mod columns]. Rows of whole vectors, contiguous, go as
/// one run of rows·columns elements (NK_RUN_OF_ROWS) whose first `shift` elements (up to the
/// output's vector alignment, when streamed) go one by one: each vector after them then meets
/// the same columns of dst in every row, and the last row's last `columns − shift` elements go
/// one by one. So the rows stream whatever the output's alignment (a Swift array's is 16 bytes),
/// where a row peeled to the alignment would share its last line with the next row.
/// Measured against the same rows unstreamed, builds alternating, two threads: BatchNorm2d
/// 32x64x56x56 channels-last training forward 1.16×, backward 1.21–1.27×, InstanceNorm2d
/// 8x64x128x128 channels-last forward 1.13–1.15× (see ColumnStreaming in Primitives.swift).
#define NK_ROTATE(dst, src, columns, shift) \
    ({ for (long c_ = 0; c_ < (columns); c_++) (dst)[c_] = (src)[((shift) + c_) % (columns)]; })
/// Streamed rows of whole vectors past the register strip go as one run up to this many bytes
/// (64 Float channels, with AVX2): 256 bytes measured 1.07–1.11× faster so (AVX2 BatchNorm2d
/// 32x64x56x56 channels-last forward and backward, InstanceNorm2d 8x64x128x128 forward), 512
/// bytes 1.11–1.20× with AVX2 but 0.87–0.95× with AVX-512 (BatchNorm2d 32x128x40x40 and
/// 16x128x56x56 channels-last), and stay row by row.
#define NK_STREAM_MAX_RUN_ROW_BYTES 256
/// The most elements of a row that goes as one run (its rotated coefficients' arrays).
#define NK_RUN_ROW_MAX (NK_STREAM_MIN_ROW_BYTES / (long)sizeof(NK_S))
_Static_assert(NK_STRIP * NK_LANES < NK_RUN_ROW_MAX && NK_STREAM_MAX_RUN_ROW_BYTES < NK_STREAM_MIN_ROW_BYTES,
               "every row that goes as one run fits the arrays");
/// Whether rows of `columns` go as one run: rows of whole vectors short enough for the register
/// strip, and streamed (NK_COLUMNS_STREAM_SHORT) ones up to NK_STREAM_MAX_RUN_ROW_BYTES.
#define NK_RUN_OF_ROWS(columns, stream)                             \
    ((columns) % NK_LANES == 0 &&                                 \
     ((columns) <= NK_STRIP * NK_LANES ||                         \
      (((stream) & NK_COLUMNS_STREAM_SHORT) && (columns) * (long)sizeof(NK_S) <= NK_STREAM_MAX_RUN_ROW_BYTES)))
/// s1 += a1 and s2 += a2, vector by vector, for a strip's first `vectors` vectors.
#define NK_ADD_STRIP(s1, s2, a1, a2, vectors)                                          \
    ({                                                                                 \
        for (int j = 0; j < NK_STRIP; j++) {                                           \
            if (j < (vectors)) {                                                       \
                NK_STORE((s1) + j * NK_LANES, NK_LOAD((s1) + j * NK_LANES) + (a1)[j]); \
                NK_STORE((s2) + j * NK_LANES, NK_LOAD((s2) + j * NK_LANES) + (a2)[j]); \
            }                                                                          \
        }                                                                              \
    })

static void NK_FN(column_shifted_sums)(const NK_S *x, long rows, long columns, const NK_T *k, NK_T *s1,
                                       NK_T *s2) {
    if (columns % NK_LANES == 0 && columns <= NK_STRIP * NK_LANES) {
        const long vectors = columns / NK_LANES;
        NK_V kv[NK_STRIP] = {0}, a1[NK_STRIP] = {0}, a2[NK_STRIP] = {0};
        NK_LOAD_STRIP(kv, k, vectors);
        for (long r = 0; r < rows; r++) {
            const NK_S *row = x + r * columns;
            for (int j = 0; j < NK_STRIP; j++) {
                if (j < vectors) {
                    NK_V d = NK_XLOAD(row + j * NK_LANES) - kv[j];
                    a1[j] += d;
                    a2[j] += d * d;
                }
            }
        }
        NK_ADD_STRIP(s1, s2, a1, a2, vectors);
        return;
    }
    // Wider rows: NK_ROWS rows at a time, so that each vector of sums is loaded and stored once
    // per NK_ROWS rows (the sums' loads and stores otherwise outnumber the data's).
    long r = 0;
    for (; r + NK_ROWS <= rows; r += NK_ROWS) {
        const NK_S *row = x + r * columns;
        long c = 0;
        for (; c + NK_LANES <= columns; c += NK_LANES) {
            NK_V kv = NK_LOAD(k + c), a1 = 0, a2 = 0;
            for (int j = 0; j < NK_ROWS; j++) {
                NK_V d = NK_XLOAD(row + j * columns + c) - kv;
                a1 += d;
                a2 += d * d;
            }
            NK_STORE(s1 + c, NK_LOAD(s1 + c) + a1);
            NK_STORE(s2 + c, NK_LOAD(s2 + c) + a2);
        }
        for (; c < columns; c++) {
            for (int j = 0; j < NK_ROWS; j++) {
                NK_T d = NK_XGET(row + j * columns + c) - k[c];
                s1[c] += d;
                s2[c] += d * d;
            }
        }
    }
    for (; r < rows; r++) {
        const NK_S *row = x + r * columns;
        long c = 0;
        for (; c + NK_LANES <= columns; c += NK_LANES) {
            NK_V d = NK_XLOAD(row + c) - NK_LOAD(k + c);
            NK_STORE(s1 + c, NK_LOAD(s1 + c) + d);
            NK_STORE(s2 + c, NK_LOAD(s2 + c) + d * d);
        }
        for (; c < columns; c++) {
            NK_T d = NK_XGET(row + c) - k[c];
            s1[c] += d;
            s2[c] += d * d;
        }
    }
}

// Values a block of runs_moments sums in the compute type before its sums move to double
// (Kernels.blockLength).
#define NK_BLOCK_LENGTH 2048

// Chan's merge of one block of n values, with shifted sums s from shift k, into `m`. The scalar
// arithmetic here and in the row and group loops below is not contracted into fused
// multiply-adds, so that it rounds as the Swift code of the calls that stay in Swift (past the
// caches) does: which path a call takes never changes its result.
static void NK_FN(merge_block)(nk_moments *m, long n, NK_T k, nk_pair s) {
#pragma clang fp contract(off)
    const double count = (double)n, block_mean = (double)k + s.first / count;
    double block_m2 = s.second - s.first * s.first / count;
    block_m2 = block_m2 < 0 ? 0 : block_m2;  // NaN passes through
    if (m->count == 0) {
        *m = (nk_moments){count, block_mean, block_m2};
        return;
    }
    const double total = m->count + count, delta = block_mean - m->mean;
    m->mean += delta * (count / total);
    m->m2 += block_m2 + delta * delta * (m->count * count / total);
    m->count = total;
}

// One block of runs_moments: shifted from the mean so far, or from the mean of its first (at most
// 16) values; summed again from its own mean when the shift was too far off to keep the digits,
// (Σd)² > n·Σd²/2, or the sums overflowed (Kernels.needsNewShift).
static void NK_FN(add_runs_block)(const NK_S *x, long runs, long length, long stride, nk_moments *m) {
#pragma clang fp contract(off)
    const long n = runs * length;
    NK_T k = 0;
    if (m->count > 0) {
        k = (NK_T)m->mean;
    } else {
        const long first = NK_MIN(length, 16);
        for (long i = 0; i < first; i++) k += NK_XGET(x + i);
        k /= (NK_T)first;
    }
    nk_pair s = NK_FN(shifted_sums)(x, runs, length, stride, k);
    const double square = s.first * s.first;
    if (!__builtin_isfinite(square) || square > 0.5 * (double)n * s.second) {
        k = (NK_T)((double)k + s.first / (double)n);
        s = NK_FN(shifted_sums)(x, runs, length, stride, k);
    }
    NK_FN(merge_block)(m, n, k, s);
}

// Runs `body` with `at` (the block's first element), `block_runs` and `block_length` for each block
// of `runs` runs of `length` values, `stride` apart, in order: runs of half a block or more are
// cut into blocks of at most NK_BLOCK_LENGTH; shorter ones are grouped, as many as fill a block
// (a 7×7 feature map costs one block per 41 runs).
#define NK_FOR_EACH_BLOCK(runs, length, stride, body)                                         \
    do {                                                                                      \
        if ((runs) <= 0 || (length) <= 0) break;                                              \
        if ((length) >= NK_BLOCK_LENGTH / 2) {                                                \
            for (long nk_r_ = 0; nk_r_ < (runs); nk_r_++) {                                   \
                for (long nk_s_ = 0; nk_s_ < (length); nk_s_ += NK_BLOCK_LENGTH) {            \
                    const long at = nk_r_ * (stride) + nk_s_, block_runs = 1;                 \
                    const long block_length = NK_MIN(NK_BLOCK_LENGTH, (length) - nk_s_);      \
                    body;                                                                     \
                }                                                                             \
            }                                                                                 \
        } else {                                                                              \
            const long nk_per_ = NK_BLOCK_LENGTH / (length);                                  \
            for (long nk_f_ = 0; nk_f_ < (runs); nk_f_ += nk_per_) {                          \
                const long at = nk_f_ * (stride), block_runs = NK_MIN(nk_per_, (runs) - nk_f_); \
                const long block_length = (length);                                           \
                body;                                                                         \
            }                                                                                 \
        }                                                                                     \
    } while (0)

static void NK_FN(runs_moments)(const NK_S *x, long runs, long length, long stride, nk_moments *moments) {
    NK_FOR_EACH_BLOCK(runs, length, stride, NK_FN(add_runs_block)(x + at, block_runs, block_length, stride, moments));
}

// Σdy and Σdy·(x − μ) over runs, block by block (Kernels.gradientSumsOfRuns), with μ = hi + lo.
static nk_pair NK_FN(runs_gradient_sums)(const NK_S *x, const NK_S *dy, long runs, long length, long stride, NK_T hi,
                                         NK_T lo) {
#pragma clang fp contract(off)
    double t1 = 0, t2 = 0;
    NK_FOR_EACH_BLOCK(runs, length, stride, {
        const nk_pair s = NK_FN(gradient_sums)(x + at, dy + at, block_runs, block_length, stride, hi, NULL);
        t1 += s.first;
        t2 += s.second;
    });
    return (nk_pair){t1, t2 - (double)lo * t1};  // Σdy·(x − μ) = Σdy·(x − hi) − lo·Σdy
}

// Σx² of `n` contiguous values, block by block (Kernels.sumOfSquares: RMSNorm's statistic).
static double NK_FN(sum_of_squares)(const NK_S *x, long n) {
    double total = 0;
    NK_FOR_EACH_BLOCK(1, n, n, total += NK_FN(shifted_sums)(x + at, block_runs, block_length, n, 0).second);
    return total;
}

// One row's (or contiguous group's) moments for rows_forward and groups_forward: runs_moments when
// `centered`, else Σx² (Kernels.sumOfSquares).
static nk_moments NK_FN(row_moments)(const NK_S *row, long n, int centered) {
    nk_moments m = {0, 0, 0};
    if (centered) {
        NK_FN(runs_moments)(row, 1, n, n, &m);
        return m;
    }
    m.count = (double)n;
    m.m2 = NK_FN(sum_of_squares)(row, n);
    return m;
}

// A statistic group's r = 1/√(M2/n + eps) and split mean, recorded in mean, m2 and invstd at
// `index` (the record closure of Kernels.normalizeWithBatchStatistics).
typedef struct NK_FN(nk_group_affine) {
    NK_T hi, lo;
    double r;
} NK_FN(nk_group_affine);

static NK_FN(nk_group_affine) NK_FN(record_group)(nk_moments m, long n, double eps, long index, double *mean,
                                                  double *m2, double *invstd) {
#pragma clang fp contract(off)
    const double variance = n > 0 ? m.m2 / (double)n : 0, r = 1 / __builtin_sqrt(variance + eps);
    const NK_T hi = (NK_T)m.mean;
    mean[index] = m.mean;
    m2[index] = m.m2;
    invstd[index] = r;
    return (NK_FN(nk_group_affine)){hi, (NK_T)(m.mean - (double)hi), r};
}

// The per-row work of Kernels.normalizeWithBatchStatistics, without a return to Swift between
// rows, and with each row's moments taken before the previous row's output, so that the division
// and square root that end them overlap that output's loop instead of delaying it. In Swift, row
// by row, the rows' bookkeeping took 15% of a bfloat16 LayerNorm 8192×1024 forward pass and 20%
// of a Float 64×768 one in cache, and a quarter of LayerNorm 87381×384's streamed rows.
static inline __attribute__((always_inline)) void NK_FN(rows_forward_loop)(const NK_S *x, NK_S *y, long rows, long n,
                                                                          const NK_T *w, const NK_T *b, double eps,
                                                                          int centered, int stream, long ahead,
                                                                          double *mean, double *m2, double *invstd) {
    nk_moments m = NK_FN(row_moments)(x, n, centered);
    NK_FN(nk_group_affine) previous = {0, 0, 0};
    for (long r = 0; r < rows; r++) {
        const NK_FN(nk_group_affine) g = NK_FN(record_group)(m, n, eps, r, mean, m2, invstd);
        if (r + 1 < rows) m = NK_FN(row_moments)(x + (r + 1) * n, n, centered);
        const int tails = stream ? (r > 0 ? NK_TAIL_FROM_PREVIOUS : 0) | (r + 1 < rows ? NK_TAIL_TO_NEXT : 0) : 0;
        // Row r + 1's moments are taken: each row's output fetches `ahead` rows past that one.
        const NK_S *next = ahead > 0 && r + 1 + ahead < rows ? x + (r + 1 + ahead) * n : NULL;
        NK_FN(affine_row)(x + r * n, y + r * n, n, g.hi, g.lo, (NK_T)g.r, w, b, stream, tails, previous.hi, previous.lo,
                          (NK_T)previous.r, next);
        previous = g;
    }
}

static void NK_FN(rows_forward)(const NK_S *x, NK_S *y, long rows, long n, const NK_T *w, const NK_T *b, double eps,
                                int centered, int stream, long ahead, double *mean, double *m2, double *invstd) {
    if (rows <= 0) return;
    // Rows in cache get a loop of their own, free of the stream and fetch tests (with them, in
    // every vector: LayerNorm and RMSNorm 64×768 forward 1.09× slower).
    if (stream || ahead > 0) NK_FN(rows_forward_loop)(x, y, rows, n, w, b, eps, centered, stream, ahead, mean, m2, invstd);
    else NK_FN(rows_forward_loop)(x, y, rows, n, w, b, eps, centered, 0, 0, mean, m2, invstd);
}

// Adds rows_backward's per-column sums (Σdy, then Σdy·x̂, n each) to sum_dy and sum_dy_xhat in
// double, and clears them (GroupScratch.flush).
static void NK_FN(move_column_sums)(NK_T *columns, long n, double *sum_dy, double *sum_dy_xhat) {
    for (long c = 0; c < n; c++) sum_dy[c] += (double)columns[c];
    for (long c = 0; c < n; c++) sum_dy_xhat[c] += (double)columns[n + c];
    for (long c = 0; c < 2 * n; c++) columns[c] = 0;
}

// Kernels.rowsBackward with one group a row and batch statistics, without a return to Swift
// between rows (there, row by row, Swift's bookkeeping held 9% of the samples of LayerNorm
// 8192×768's backward pass; here the passes run 1.01–1.09× faster). The arithmetic is that of
// the Swift loop it replaces, to the bit: GradientMode.coefficients in double, rounded once to
// the compute type, and μ's low part folded into k3 (GradientCoefficients.foldingLowPart).
static void NK_FN(rows_backward)(const NK_TABLE_TYPE *loops, const NK_S *x, const NK_S *dy, NK_S *dx, long rows, long n,
                                 const NK_T *w, const double *mean, const double *invstd, int centered, int stream,
                                 int fetch, int fuses, NK_T *columns, double *sum_dy, double *sum_dy_xhat) {
#pragma clang fp contract(off)
    long pending = 0;
    int carried = 0;
    nk_pair carry = {0, 0};
    for (long r = 0; r < rows; r++) {
        const NK_S *xr = x + r * n, *gr = dy + r * n;
        NK_S *dr = dx + r * n;
        const NK_T hi = (NK_T)mean[r], lo = (NK_T)(mean[r] - (double)hi);
        const double rr = invstd[r];
        double sum_g = 0, sum_gd = 0;
        if (carried) {
            sum_g = carry.first;
            sum_gd = carry.second;
        } else {
            // The next row is fetched while this one is summed, not while its input gradient is
            // written: memory then reads during both sweeps of a row, where it had waited while the
            // fetched row was summed from L2. Builds alternating, two threads: LayerNorm 8192×2048
            // backward 1.17× faster, 4096×4096 1.18×, 2048×8192 1.09×, `Double` 8192×1024 1.20×;
            // RMSNorm 4096×4096 1.06–1.20×, `Double` 8192×1024 1.18×; one thread 1.18–1.21× (an
            // Intel Xeon VM), where rows of 8 KiB and more had taken 1.3–1.6× longer a byte than
            // rows of 4 KiB; rows of 1–4 KiB (Kernels.minimumFetchedBackwardRowBytes) 1.10–1.38×.
            const int ahead = fetch && r + 1 < rows;
            const NK_S *nx = ahead ? xr + n : NULL, *ng = ahead ? gr + n : NULL;
            NK_FOR_EACH_BLOCK(1, n, n, {
                const NK_T *ws = w ? w + at : NULL;
                if (columns) {
                    const nk_pair s = loops->row_gradient_sums(xr + at, gr + at, block_length, hi, lo, (NK_T)rr, ws, columns + at,
                                                               columns + n + at, nx ? nx + at : NULL, ng ? ng + at : NULL);
                    sum_g += s.first;
                    sum_gd += s.second;
                } else {
                    // Σg·(x − μ) = Σg·(x − hi) − lo·Σg.
                    const nk_pair s = NK_FN(gradient_sums_fetching)(xr + at, gr + at, 1, block_length, block_length, hi, ws,
                                                                    nx ? nx + at : NULL, ng ? ng + at : NULL);
                    sum_g += s.first;
                    sum_gd += s.second - (double)lo * s.first;
                }
            });
        }
        if (columns && ++pending >= 32) {
            NK_FN(move_column_sums)(columns, n, sum_dy, sum_dy_xhat);
            pending = 0;
        }
        const double m = (double)n;
        const NK_T k1 = (NK_T)rr, k2 = (NK_T)(rr * rr * (rr * sum_gd) / m), k3 = centered ? (NK_T)(-rr * sum_g / m) : 0;
        const NK_T k3_folded = k3 + k2 * lo;
        if (!(fuses && r + 1 < rows)) {
            loops->input_gradient_row(xr, gr, dr, n, hi, k1, k2, k3_folded, w, stream, NULL, NULL);
            carried = 0;
            continue;
        }
        const NK_T nhi = (NK_T)mean[r + 1], nlo = (NK_T)(mean[r + 1] - (double)nhi), nr = (NK_T)invstd[r + 1];
        const int after = fetch && r + 2 < rows;
        carry = (nk_pair){0, 0};
        NK_FOR_EACH_BLOCK(1, n, n, {
            const NK_T *ws = w ? w + at : NULL;
            const nk_pair s = loops->input_gradient_row_then_sums(
                xr + at, gr + at, dr + at, block_length, hi, k1, k2, k3_folded, ws, stream, xr + n + at, gr + n + at, nhi, nlo, nr,
                ws, columns + at, columns + n + at, after ? xr + 2 * n + at : NULL, after ? gr + 2 * n + at : NULL);
            carry.first += s.first;
            carry.second += s.second;
        });
        carried = 1;
    }
    if (columns && pending > 0) NK_FN(move_column_sums)(columns, n, sum_dy, sum_dy_xhat);
}

// As rows_forward, for NCHW groups of channels: each channel's runs take the group's statistics
// and its own weight and bias, folded as Kernels.affineRuns folds them.
static void NK_FN(groups_forward)(const NK_S *x, NK_S *y, long first, long groups, long groups_per_sample, long width,
                                  long inner, const NK_T *w, const NK_T *b, double eps, int stream, double *mean,
                                  double *m2, double *invstd) {
#pragma clang fp contract(off)
    if (groups <= 0) return;
    const long n = width * inner;
    nk_moments m = NK_FN(row_moments)(x, n, 1);
    for (long t = 0; t < groups; t++) {
        const NK_FN(nk_group_affine) g = NK_FN(record_group)(m, n, eps, t, mean, m2, invstd);
        if (t + 1 < groups) m = NK_FN(row_moments)(x + (t + 1) * n, n, 1);
        const long channel = ((first + t) % groups_per_sample) * width;
        for (long i = 0; i < width; i++) {
            const NK_T scale = (NK_T)(g.r * (w ? (double)w[channel + i] : 1.0)), offset = b ? b[channel + i] : 0;
            const long at = t * n + i * inner;
            NK_FN(affine_range)(x + at, y + at, 1, inner, inner, g.hi, scale, offset - g.lo * scale, stream, NULL);
        }
    }
}

static void NK_FN(groups_backward)(const NK_S *x, const NK_S *dy, NK_S *dx, long first, long groups, long groups_per_sample,
                                   long width, long inner, const NK_T *w, const double *mean, const double *invstd,
                                   int stream, double *sum_dy, double *sum_dy_xhat) {
#pragma clang fp contract(off)
    const long n = width * inner;
    for (long t = 0; t < groups; t++) {
        const long channel = ((first + t) % groups_per_sample) * width, at = t * n;
        const double r = invstd[t];
        const NK_T hi = (NK_T)mean[t], lo = (NK_T)(mean[t] - (double)hi);
        double sum_g = 0, sum_gd = 0;
        for (long i = 0; i < width; i++) {
            const nk_pair s = NK_FN(runs_gradient_sums)(x + at + i * inner, dy + at + i * inner, 1, inner, inner, hi, lo);
            const double gamma = w ? (double)w[channel + i] : 1;
            sum_g += gamma * s.first;
            sum_gd += gamma * s.second;
            if (sum_dy) {
                sum_dy[channel + i] += s.first;
                sum_dy_xhat[channel + i] += r * s.second;
            }
        }
        const double m = (double)n, sum_g_xhat = r * sum_gd;
        for (long i = 0; i < width; i++) {
            const double gamma = w ? (double)w[channel + i] : 1;
            const NK_T k1 = (NK_T)(r * gamma), k2 = (NK_T)(r * r * sum_g_xhat / m), k3 = (NK_T)(-r * sum_g / m);
            const long run = at + i * inner;
            NK_FN(input_gradient_range)(x + run, dy + run, dx + run, 1, inner, 0, hi, k1, k2, k3 + k2 * lo, stream, NULL, NULL);
        }
    }
}

// Rows summed per block by column_moments: at most 128 values a lane in the compute type, as in
// Kernels.accumulateColumns (channels-last GroupNorm's groups of columns).
#define NK_MOMENT_BLOCK_ROWS 128

// Chan's merge of a block of n values into the moments of `count` values, every column at once:
// the block's mean and M2 from its sums s1, s2 shifted by k[c].
static void NK_FN(merge_column_block)(const NK_T *k, const NK_T *s1, const NK_T *s2, long columns, long count,
                                      long n, double *mean, double *m2) {
    const double total = (double)(count + n), reciprocal = 1.0 / (double)n;
    const double block_weight = (double)n / total, cross_weight = (double)count * (double)n / total;
    for (long c = 0; c < columns; c++) {
        const double t1 = s1[c], t2 = s2[c];
        const double block_mean = (double)k[c] + t1 * reciprocal;
        double block_m2 = t2 - t1 * t1 * reciprocal;
        block_m2 = block_m2 < 0 ? 0 : block_m2;  // NaN passes through
        if (count == 0) {
            mean[c] = block_mean;
            m2[c] = block_m2;
        } else {
            const double delta = block_mean - mean[c];
            mean[c] += delta * block_weight;
            m2[c] += block_m2 + delta * delta * cross_weight;
        }
    }
}

static void NK_FN(column_moments)(const NK_S *x, long rows, long columns, NK_T *scratch, double *mean,
                                  double *m2) {
    NK_T *k = scratch, *s1 = scratch + columns, *s2 = scratch + 2 * columns;
    for (long count = 0; count < rows; count += NK_MOMENT_BLOCK_ROWS) {
        const long n = NK_MIN(NK_MOMENT_BLOCK_ROWS, rows - count);
        const NK_S *block = x + count * columns;
        for (long c = 0; c < columns; c++) k[c] = count > 0 ? (NK_T)mean[c] : NK_XGET(block + c);
        for (int pass = 0; pass < 2; pass++) {
            for (long c = 0; c < columns; c++) s1[c] = s2[c] = 0;
            NK_FN(column_shifted_sums)(block, n, columns, k, s1, s2);
            if (pass == 1) break;
            // A column whose shift was too far from its mean to keep the digits, (Σd)² > n·Σd²/2,
            // or whose sums overflowed, is summed again from its block's mean.
            int cancelled = 0;
            const double half_n = 0.5 * (double)n;
            for (long c = 0; c < columns; c++) {
                const double t1 = s1[c], square = t1 * t1;
                const int shift_again = !(__builtin_fabs(square) < __builtin_inf()) | (square > half_n * (double)s2[c]);
                k[c] = shift_again ? (NK_T)((double)k[c] + t1 / (double)n) : k[c];
                cancelled |= shift_again;
            }
            if (!cancelled) break;
        }
        NK_FN(merge_column_block)(k, s1, s2, columns, count, n, mean, m2);
    }
}

static void NK_FN(column_affine)(const NK_S *x, NK_S *y, long rows, long columns, const NK_T *hi, const NK_T *a,
                                 const NK_T *b, int stream, const NK_S *next) {
    if (NK_RUN_OF_ROWS(columns, stream)) {
        // Rows of whole vectors short enough for the register strip (BatchNorm's 64 channels; its
        // coefficients stay in registers over all rows: BatchNorm2d 64x32x7x7 channels-last eval
        // 1.7× faster, 32x64x56x56 1.04×), or streamed rows of 256 bytes: one run of rows.
        stream &= NK_COLUMNS_STREAM_SHORT;
        const long total = rows * columns, head = NK_PEEL(stream, y, total);
        NK_T rh[NK_RUN_ROW_MAX], ra[NK_RUN_ROW_MAX], rb[NK_RUN_ROW_MAX];
        NK_ROTATE(rh, hi, columns, head);
        NK_ROTATE(ra, a, columns, head);
        NK_ROTATE(rb, b, columns, head);
        for (long i = 0; i < head; i++) NK_XSET(y + i, (NK_XGET(x + i) - hi[i]) * a[i] + b[i]);
        long i = head;
        if (columns <= NK_STRIP * NK_LANES) {
            const long vectors = columns / NK_LANES;
            NK_V hv[NK_STRIP] = {0}, av[NK_STRIP] = {0}, bv[NK_STRIP] = {0};
            NK_LOAD_STRIP(hv, rh, vectors);
            NK_LOAD_STRIP(av, ra, vectors);
            NK_LOAD_STRIP(bv, rb, vectors);
            for (; i + columns <= total; i += columns)
                for (int j = 0; j < NK_STRIP; j++)
                    if (j < vectors) NK_XPUT(stream, y + i + j * NK_LANES, (NK_XLOAD(x + i + j * NK_LANES) - hv[j]) * av[j] + bv[j]);
        } else {
            for (; i + columns <= total; i += columns)
                for (long c = 0; c < columns; c += NK_LANES)
                    NK_XPUT(stream, y + i + c, (NK_XLOAD(x + i + c) - NK_LOAD(rh + c)) * NK_LOAD(ra + c) + NK_LOAD(rb + c));
        }
        for (long c = head; i < total; i++, c++) NK_XSET(y + i, (NK_XGET(x + i) - hi[c]) * a[c] + b[c]);
        return;
    }
    stream = (stream & NK_COLUMNS_STREAM_WIDE) && columns * (long)sizeof(NK_S) >= NK_STREAM_MIN_ROW_BYTES;
    for (long r = 0; r < rows; r++) {
        const NK_S *p = x + r * columns;
        NK_S *q = y + r * columns;
        if (next) NK_PREFETCH(next + r * columns, columns * sizeof(NK_S));
        long c = 0;
        for (const long peel = NK_PEEL(stream, q, columns); c < peel; c++)
            NK_XSET(q + c, (NK_XGET(p + c) - hi[c]) * a[c] + b[c]);
        for (; c + NK_LANES <= columns; c += NK_LANES)
            NK_XPUT(stream, q + c, (NK_XLOAD(p + c) - NK_LOAD(hi + c)) * NK_LOAD(a + c) + NK_LOAD(b + c));
        for (; c < columns; c++) NK_XSET(q + c, (NK_XGET(p + c) - hi[c]) * a[c] + b[c]);
    }
}

static void NK_FN(column_gradient_sums)(const NK_S *x, const NK_S *dy, long rows, long columns, const NK_T *hi,
                                        NK_T *s1, NK_T *s2) {
    if (columns % NK_LANES == 0 && columns <= NK_STRIP * NK_LANES) {
        const long vectors = columns / NK_LANES;
        NK_V hv[NK_STRIP] = {0}, a1[NK_STRIP] = {0}, a2[NK_STRIP] = {0};
        NK_LOAD_STRIP(hv, hi, vectors);
        for (long r = 0; r < rows; r++) {
            const NK_S *p = x + r * columns, *g = dy + r * columns;
            for (int j = 0; j < NK_STRIP; j++) {
                if (j < vectors) {
                    NK_V gv = NK_XLOAD(g + j * NK_LANES);
                    a1[j] += gv;
                    a2[j] += gv * (NK_XLOAD(p + j * NK_LANES) - hv[j]);
                }
            }
        }
        NK_ADD_STRIP(s1, s2, a1, a2, vectors);
        return;
    }
    long r = 0;  // NK_ROWS rows at a time, as column_shifted_sums
    for (; r + NK_ROWS <= rows; r += NK_ROWS) {
        const NK_S *p = x + r * columns, *g = dy + r * columns;
        long c = 0;
        for (; c + NK_LANES <= columns; c += NK_LANES) {
            NK_V hv = NK_LOAD(hi + c), a1 = 0, a2 = 0;
            for (int j = 0; j < NK_ROWS; j++) {
                NK_V gv = NK_XLOAD(g + j * columns + c);
                a1 += gv;
                a2 += gv * (NK_XLOAD(p + j * columns + c) - hv);
            }
            NK_STORE(s1 + c, NK_LOAD(s1 + c) + a1);
            NK_STORE(s2 + c, NK_LOAD(s2 + c) + a2);
        }
        for (; c < columns; c++) {
            for (int j = 0; j < NK_ROWS; j++) {
                s1[c] += NK_XGET(g + j * columns + c);
                s2[c] += NK_XGET(g + j * columns + c) * (NK_XGET(p + j * columns + c) - hi[c]);
            }
        }
    }
    for (; r < rows; r++) {
        const NK_S *p = x + r * columns, *g = dy + r * columns;
        long c = 0;
        for (; c + NK_LANES <= columns; c += NK_LANES) {
            NK_V gv = NK_XLOAD(g + c);
            NK_STORE(s1 + c, NK_LOAD(s1 + c) + gv);
            NK_STORE(s2 + c, NK_LOAD(s2 + c) + gv * (NK_XLOAD(p + c) - NK_LOAD(hi + c)));
        }
        for (; c < columns; c++) {
            s1[c] += NK_XGET(g + c);
            s2[c] += NK_XGET(g + c) * (NK_XGET(p + c) - hi[c]);
        }
    }
}

// Streams its rows as column_affine does.
static void NK_FN(column_input_gradient)(const NK_S *x, const NK_S *dy, NK_S *dx, long rows, long columns,
                                         const NK_T *hi, const NK_T *k1, const NK_T *k2, const NK_T *k3, int stream) {
    if (NK_RUN_OF_ROWS(columns, stream)) {
        // As in column_affine (the strip: BatchNorm2d 64x32x7x7 channels-last forward and
        // backward 1.4× faster).
        stream &= NK_COLUMNS_STREAM_SHORT;
        const long total = rows * columns, head = NK_PEEL(stream, dx, total);
        NK_T rh[NK_RUN_ROW_MAX], r1[NK_RUN_ROW_MAX], r2[NK_RUN_ROW_MAX], r3[NK_RUN_ROW_MAX];
        NK_ROTATE(rh, hi, columns, head);
        NK_ROTATE(r1, k1, columns, head);
        NK_ROTATE(r2, k2, columns, head);
        NK_ROTATE(r3, k3, columns, head);
#define NK_COLUMN_GRADIENT_ELEMENT(i, c) NK_XSET(dx + (i), k1[c] * NK_XGET(dy + (i)) - k2[c] * (NK_XGET(x + (i)) - hi[c]) + k3[c])
        for (long i = 0; i < head; i++) NK_COLUMN_GRADIENT_ELEMENT(i, i);
        long i = head;
        if (columns <= NK_STRIP * NK_LANES) {
            const long vectors = columns / NK_LANES;
            NK_V hv[NK_STRIP] = {0}, k1v[NK_STRIP] = {0}, k2v[NK_STRIP] = {0}, k3v[NK_STRIP] = {0};
            NK_LOAD_STRIP(hv, rh, vectors);
            NK_LOAD_STRIP(k1v, r1, vectors);
            NK_LOAD_STRIP(k2v, r2, vectors);
            NK_LOAD_STRIP(k3v, r3, vectors);
            for (; i + columns <= total; i += columns) {
                for (int j = 0; j < NK_STRIP; j++) {
                    if (j < vectors) {
                        const long e = i + j * NK_LANES;
                        NK_XPUT(stream, dx + e, k1v[j] * NK_XLOAD(dy + e) - k2v[j] * (NK_XLOAD(x + e) - hv[j]) + k3v[j]);
                    }
                }
            }
        } else {
            for (; i + columns <= total; i += columns) {
                for (long c = 0; c < columns; c += NK_LANES) {
                    const long e = i + c;
                    NK_XPUT(stream, dx + e, NK_LOAD(r1 + c) * NK_XLOAD(dy + e) - NK_LOAD(r2 + c) * (NK_XLOAD(x + e) - NK_LOAD(rh + c)) +
                                                NK_LOAD(r3 + c));
                }
            }
        }
        for (long c = head; i < total; i++, c++) NK_COLUMN_GRADIENT_ELEMENT(i, c);
#undef NK_COLUMN_GRADIENT_ELEMENT
        return;
    }
    stream = (stream & NK_COLUMNS_STREAM_WIDE) && columns * (long)sizeof(NK_S) >= NK_STREAM_MIN_ROW_BYTES;
    for (long r = 0; r < rows; r++) {
        long offset = r * columns, c = 0;
        const NK_S *p = x + offset, *g = dy + offset;
        NK_S *q = dx + offset;
        for (const long peel = NK_PEEL(stream, q, columns); c < peel; c++)
            NK_XSET(q + c, k1[c] * NK_XGET(g + c) - k2[c] * (NK_XGET(p + c) - hi[c]) + k3[c]);
        for (; c + NK_LANES <= columns; c += NK_LANES)
            NK_XPUT(stream, q + c, NK_LOAD(k1 + c) * NK_XLOAD(g + c) - NK_LOAD(k2 + c) * (NK_XLOAD(p + c) - NK_LOAD(hi + c)) +
                                       NK_LOAD(k3 + c));
        for (; c < columns; c++) NK_XSET(q + c, k1[c] * NK_XGET(g + c) - k2[c] * (NK_XGET(p + c) - hi[c]) + k3[c]);
    }
}

#if NK_STORAGE != NK_STORAGE_SAME
// The 16-bit type's whole-array conversions from and to float (`nk_conversions`), in the same
// loads and stores as the loops above.
static void NK_FN(to_float)(const NK_S *in, float *out, long n) {
    long i = 0;
    for (; i + NK_LANES <= n; i += NK_LANES) NK_STORE(out + i, NK_XLOAD(in + i));
    for (; i < n; i++) out[i] = NK_XGET(in + i);
}

static void NK_FN(from_float)(const float *in, NK_S *out, long n) {
    long i = 0;
    for (; i + NK_LANES <= n; i += NK_LANES) NK_XSTORE(out + i, NK_LOAD(in + i));
    for (; i < n; i++) NK_XSET(out + i, in[i]);
}
#endif

// Moving a tensor between memory formats transposes, per sample, a rows × columns matrix (C × S
// to channels-last, S × C back): out[c·rows + r] = in[r·columns + c] for the rows in
// [row_begin, row_end). Blocks of 8 × 8 elements are transposed in registers (three rounds of
// interleaves), and 16 rows go together, so that each output row gets 16 adjacent elements
// (a cache line of Float) at a time. The elements are copied bit for bit.
typedef NK_S NK_FN(nk_block_row) __attribute__((ext_vector_type(8)));
#define NK_BR NK_FN(nk_block_row)
#define NK_BLOAD(p) ({ NK_BR nk_b_; __builtin_memcpy(&nk_b_, (p), sizeof nk_b_); nk_b_; })
#define NK_BSTORE(p, v) ({ NK_BR nk_c_ = (v); __builtin_memcpy((p), &nk_c_, sizeof nk_c_); })
#define NK_PAIRS(a, b, lo, hi)                                                   \
    ({                                                                           \
        lo = __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11);            \
        hi = __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15);          \
    })
#define NK_QUADS(a, b, lo, hi)                                                   \
    ({                                                                           \
        lo = __builtin_shufflevector(a, b, 0, 1, 8, 9, 2, 3, 10, 11);            \
        hi = __builtin_shufflevector(a, b, 4, 5, 12, 13, 6, 7, 14, 15);          \
    })
#define NK_HALVES(a, b, lo, hi)                                                  \
    ({                                                                           \
        lo = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11);            \
        hi = __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15);          \
    })

static inline void NK_FN(transpose_block)(const NK_S *in, NK_S *out, long rows, long columns) {
    NK_BR a0 = NK_BLOAD(in), a1 = NK_BLOAD(in + columns), a2 = NK_BLOAD(in + 2 * columns),
          a3 = NK_BLOAD(in + 3 * columns), a4 = NK_BLOAD(in + 4 * columns), a5 = NK_BLOAD(in + 5 * columns),
          a6 = NK_BLOAD(in + 6 * columns), a7 = NK_BLOAD(in + 7 * columns);
    NK_BR p0, p1, q0, q1, r0, r1, s0, s1, u0, u1, u2, u3, v0, v1, v2, v3, c0, c1;
    NK_PAIRS(a0, a1, p0, p1);  // rows 0–1, columns 0–3 and 4–7
    NK_PAIRS(a2, a3, q0, q1);
    NK_PAIRS(a4, a5, r0, r1);
    NK_PAIRS(a6, a7, s0, s1);
    NK_QUADS(p0, q0, u0, u1);  // rows 0–3: columns 0–1, 2–3
    NK_QUADS(p1, q1, u2, u3);  // rows 0–3: columns 4–5, 6–7
    NK_QUADS(r0, s0, v0, v1);  // rows 4–7
    NK_QUADS(r1, s1, v2, v3);
    NK_HALVES(u0, v0, c0, c1);
    NK_BSTORE(out, c0);
    NK_BSTORE(out + rows, c1);
    NK_HALVES(u1, v1, c0, c1);
    NK_BSTORE(out + 2 * rows, c0);
    NK_BSTORE(out + 3 * rows, c1);
    NK_HALVES(u2, v2, c0, c1);
    NK_BSTORE(out + 4 * rows, c0);
    NK_BSTORE(out + 5 * rows, c1);
    NK_HALVES(u3, v3, c0, c1);
    NK_BSTORE(out + 6 * rows, c0);
    NK_BSTORE(out + 7 * rows, c1);
}

static void NK_FN(transpose)(const NK_S *in, NK_S *out, long rows, long columns, long row_begin, long row_end) {
#define NK_BLOCK(r, c) NK_FN(transpose_block)(in + (r) * columns + (c), out + (c) * rows + (r), rows, columns)
#define NK_SCALARS(r0, r1, c0, c1)                                                         \
    for (long c_ = (c0); c_ < (c1); c_++)                                                  \
        for (long r_ = (r0); r_ < (r1); r_++) out[c_ * rows + r_] = in[r_ * columns + c_];
    if (rows > columns) {
        // Few output rows, each long (channels-last to row-major): strips of 16 columns sweep
        // down the rows, so each output row is written in order and each input line read once.
        // Sweeping 16 rows at a time across all columns instead wrote to every output row at
        // once, rows a page apart: 8×64×32×32 measured 1.4× slower than PyTorch's.
        long c = 0;
        for (; c + 16 <= columns; c += 16) {
            long r = row_begin;
            for (; r + 8 <= row_end; r += 8) {
                NK_BLOCK(r, c);
                NK_BLOCK(r, c + 8);
            }
            NK_SCALARS(r, row_end, c, c + 16);
        }
        for (; c + 8 <= columns; c += 8) {
            long r = row_begin;
            for (; r + 8 <= row_end; r += 8) NK_BLOCK(r, c);
            NK_SCALARS(r, row_end, c, c + 8);
        }
        NK_SCALARS(row_begin, row_end, c, columns);
        return;
    }
    long r = row_begin;
    for (; r + 16 <= row_end; r += 16) {
        long c = 0;
        for (; c + 8 <= columns; c += 8) {
            NK_BLOCK(r, c);
            NK_BLOCK(r + 8, c);
        }
        NK_SCALARS(r, r + 16, c, columns);
    }
    for (; r + 8 <= row_end; r += 8) {
        long c = 0;
        for (; c + 8 <= columns; c += 8) NK_BLOCK(r, c);
        NK_SCALARS(r, r + 8, c, columns);
    }
    NK_SCALARS(r, row_end, 0, columns);
#undef NK_BLOCK
#undef NK_SCALARS
}
#undef NK_BR
#undef NK_BLOAD
#undef NK_BSTORE
#undef NK_PAIRS
#undef NK_QUADS
#undef NK_HALVES

static const NK_TABLE_TYPE NK_FN(table) = {
    .affine_range = NK_FN(affine_range),
    .affine_row = NK_FN(affine_row),
    .gradient_sums = NK_FN(gradient_sums),
    .row_gradient_sums = NK_FN(row_gradient_sums),
    .input_gradient_range = NK_FN(input_gradient_range),
    .input_gradient_row = NK_FN(input_gradient_row),
    .input_gradient_row_then_sums = NK_FN(input_gradient_row_then_sums),
    .runs_moments = NK_FN(runs_moments),
    .runs_gradient_sums = NK_FN(runs_gradient_sums),
    .sum_of_squares = NK_FN(sum_of_squares),
    .rows_forward = NK_FN(rows_forward),
    .rows_backward = NK_FN(rows_backward),
    .groups_forward = NK_FN(groups_forward),
    .groups_backward = NK_FN(groups_backward),
    .channel_runs_affine = NK_FN(channel_runs_affine),
    .column_shifted_sums = NK_FN(column_shifted_sums),
    .column_moments = NK_FN(column_moments),
    .column_affine = NK_FN(column_affine),
    .column_gradient_sums = NK_FN(column_gradient_sums),
    .column_input_gradient = NK_FN(column_input_gradient),
    .transpose = NK_FN(transpose),
};

#undef NK_V
#undef NK_LOAD
#undef NK_STORE
#undef NK_LANE_SUM
#undef NK_SPUT
#undef NK_SV
#undef NK_STRIP
#undef NK_ROWS
#undef NK_ADD_STRIP
#undef NK_LOAD_STRIP
#undef NK_PEEL
#undef NK_PEEL_TO
#undef NK_ROW_SUMS_ELEMENT
#undef NK_ROW_LANES
#undef NK_RV
#undef NK_ROW_LANE_SUM
#undef NK_LOW
#undef NK_HIGH
#undef NK_ROW_ACCUMULATE
#undef NK_ROW_SUMS_VECTOR
#undef NK_ROW_SUMS_TAIL
#undef NK_LINE_BYTES
#undef NK_LINE_PEEL
#undef NK_LINE_VECTORS
#undef NK_WHOLE_LINES
#undef NK_ROW_TAIL
#undef NK_AFFINE_ELEMENT
#undef NK_GRADIENT_ELEMENT
#undef NK_WEIGHTED_GRADIENT_VECTOR
#undef NK_GRADIENT_VECTOR
#undef NK_SPLAT
#undef NK_XLOAD
#undef NK_XSTORE
#undef NK_XPUT
#undef NK_XGET
#undef NK_XSET
#undef NK_UV
#undef NK_WIDEN
#undef NK_NARROW
#undef NK_WIDEN_F16
#undef NK_NARROW_F16
#undef NK_WIDEN_BF16
#undef NK_NARROW_BF16
#undef NK_FOR_EACH_BLOCK
#undef NK_T
#undef NK_S
#undef NK_STORAGE
#undef NK_STREAM_MIN_LENGTH
#undef NK_SUFFIX
#undef NK_TABLE_TYPE
