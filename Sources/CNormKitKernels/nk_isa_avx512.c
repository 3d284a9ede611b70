// The AVX-512 table (F, VL, BW, DQ), 16 lanes of 512 bits.
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c"))), apply_to = function)
#define NK_ISA NK_ISA_AVX512
#define NK_TABLE nk_kernels_avx512
#define NK_LANES 16
#define NK_HAS_F16C 1
// The Float and Double row backward loops (LayerNorm, RMSNorm, GroupNorm on (N, C)) of a call past
// the caches run AVX2's. They load five streams a vector (x and dy, the next row's x and dy, the
// column sums) and store three; a 64-byte load from an address that is not a multiple of 64 spans
// two cache lines, and a Swift array's elements start 16, 32 or 48 bytes into one as often as on
// one. In a C harness (LayerNorm 8192×1024 backward, one thread, rows streamed) AVX-512's loops
// took 2.1–2.5 ms at 64-byte-aligned x, dy and dx and 3.3–5.2 ms at any other alignment; AVX2's
// 2.2–2.8 ms at all, once their streamed rows stored whole lines (kernels_body.h). Calls in cache
// keep AVX-512's (LayerNorm 64×768 backward took 1.39× longer with AVX2's), and so do the 16-bit
// rows, whose loads are half as wide (a bfloat16 LayerNorm 8192×1024 backward took 1.6× longer
// with AVX2's). Rows that all start on cache lines (NormKit's own tensors, whose arrays start on
// one, with rows of a multiple of 64 bytes) keep AVX-512's: in rows_backward they ran LayerNorm and
// RMSNorm 8192×1024 backward 1.33–1.43× faster than AVX2's on an Intel Xeon VM (Swift's
// NativeLoops.rowsBackward). Every set's row sums gather in the same lanes (kernels_body.h), so a Float layer
// on 16-bit input still gives the Float layer's results. BatchNorm's wide column rows (channels-last
// or (N, C), 1 KiB and more) past the caches run AVX2's column_affine and column_input_gradient
// too, for the same reason (Kernels.columnAffineBeyondCache, columnInputGradientBeyondCache);
// their sums' loops, which only load, keep AVX-512's (AVX2's measured 1.03–1.11× slower).
#define NK_BEYOND_CACHE_TABLE nk_kernels_avx2
#include "kernels_isa.h"
#pragma clang attribute pop
#endif
