// The 16-bit conversions of one instruction set, included by kernels_isa.h. With F16C
// (NK_HAS_F16C, the AVX2 and AVX-512 tables) binary16 converts in hardware; the baseline
// converts on the bits. bfloat16 is the upper half of a float in every table.
#include "half_bits.h"

#if defined(NK_HAS_F16C)
typedef _Float16 nk_half_vector __attribute__((ext_vector_type(NK_LANES)));
typedef float nk_float_vector __attribute__((ext_vector_type(NK_LANES)));
/// Converts whole vectors of `in` (of type FROM) into `out` (of type TO) in hardware, leaving `i`
/// at the first element of the scalar tail.
#define NK_CONVERT_VECTORS(FROM, TO, in, out, n, i)             \
    for (; (i) + NK_LANES <= (n); (i) += NK_LANES) {             \
        FROM from_;                                              \
        memcpy(&from_, (in) + (i), sizeof from_);                \
        TO to_ = __builtin_convertvector(from_, TO);             \
        memcpy((out) + (i), &to_, sizeof to_);                   \
    }
#else
#define NK_CONVERT_VECTORS(FROM, TO, in, out, n, i)
#endif

static void conversions_f16_to_f32(const unsigned short *in, float *out, long n) {
    long i = 0;
    NK_CONVERT_VECTORS(nk_half_vector, nk_float_vector, in, out, n, i)
    for (; i < n; i++) out[i] = nk_f16_bits_to_f32(in[i]);
}

static void conversions_f32_to_f16(const float *in, unsigned short *out, long n) {
    long i = 0;
    NK_CONVERT_VECTORS(nk_float_vector, nk_half_vector, in, out, n, i)
    for (; i < n; i++) out[i] = nk_f32_to_f16_bits(in[i]);
}

static void conversions_bf16_to_f32(const unsigned short *in, float *out, long n) {
    for (long i = 0; i < n; i++) out[i] = nk_bf16_bits_to_f32(in[i]);
}

static void conversions_f32_to_bf16(const float *in, unsigned short *out, long n) {
    for (long i = 0; i < n; i++) out[i] = nk_f32_to_bf16_bits(in[i]);
}

static const nk_conversions conversions = {
    .f16_to_f32 = conversions_f16_to_f32,
    .f32_to_f16 = conversions_f32_to_f16,
    .bf16_to_f32 = conversions_bf16_to_f32,
    .f32_to_bf16 = conversions_f32_to_bf16,
};

#undef NK_CONVERT_VECTORS
