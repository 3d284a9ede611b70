// The AVX2 table (x86-64-v3: AVX2, FMA, F16C), 8 lanes of 256 bits.
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define NK_ISA NK_ISA_AVX2
#define NK_TABLE nk_kernels_avx2
#define NK_LANES 8
#define NK_HAS_F16C 1
#include "kernels_isa.h"
#pragma clang attribute pop
#endif
