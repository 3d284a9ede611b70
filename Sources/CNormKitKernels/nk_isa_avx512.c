// The AVX-512 table (F, VL, BW, DQ), 16 lanes of 512 bits.
#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c"))), apply_to = function)
#define NK_ISA NK_ISA_AVX512
#define NK_TABLE nk_kernels_avx512
#define NK_LANES 16
#define NK_HAS_F16C 1
#include "kernels_isa.h"
#pragma clang attribute pop
#endif
