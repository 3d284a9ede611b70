// The 16-bit conversions of one instruction set, included by kernels_isa.h. With F16C
// (NK_HAS_F16C, the AVX2 and AVX-512 tables) binary16 converts in hardware; the baseline
// converts on the bits. bfloat16 is the upper half of a float in every table.
#include <string.h>

static inline float nk_f16_bits_to_f32(unsigned short bits) {
    const unsigned int sign = (unsigned int)(bits & 0x8000) << 16, exponent = (bits >> 10) & 0x1F, fraction = bits & 0x3FF;
    unsigned int out;
    if (exponent == 0x1F) {
        out = sign | 0x7F800000 | fraction << 13;
    } else if (exponent == 0) {
        float magnitude = (float)fraction * 0x1p-24f;  // zero or subnormal: exact
        memcpy(&out, &magnitude, 4);
        out |= sign;
    } else {
        out = sign | (exponent + 112) << 23 | fraction << 13;
    }
    float value;
    memcpy(&value, &out, 4);
    return value;
}

static inline unsigned short nk_f32_to_f16_bits(float value) {
    unsigned int bits;
    memcpy(&bits, &value, 4);
    const unsigned short sign = (unsigned short)((bits >> 16) & 0x8000);
    const int exponent = (int)((bits >> 23) & 0xFF);
    const unsigned int fraction = bits & 0x7FFFFF;
    if (exponent == 0xFF) return fraction == 0 ? (unsigned short)(sign | 0x7C00) : (unsigned short)(sign | 0x7E00 | (fraction >> 13));
    const int unbiased = exponent - 127;
    if (unbiased > 15) return (unsigned short)(sign | 0x7C00);
    const unsigned int significand = exponent == 0 ? fraction : (fraction | 0x800000);
    const int drop = unbiased >= -14 ? 13 : 13 + (-14 - unbiased);
    if (drop >= 25) return sign;
    unsigned int kept = significand >> drop;
    const unsigned int remainder = significand & ((1u << drop) - 1), half = 1u << (drop - 1);
    if (remainder > half || (remainder == half && (kept & 1))) kept += 1;
    if (unbiased < -14) return (unsigned short)(sign | kept);
    unsigned int result = ((unsigned int)(unbiased + 15) << 10) + (kept - 0x400);
    return (unsigned short)(sign | (result < 0x7C00 ? result : 0x7C00));
}

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
    for (long i = 0; i < n; i++) {
        const unsigned int bits = (unsigned int)in[i] << 16;
        memcpy(out + i, &bits, 4);
    }
}

static void conversions_f32_to_bf16(const float *in, unsigned short *out, long n) {
    for (long i = 0; i < n; i++) {
        unsigned int bits;
        memcpy(&bits, in + i, 4);
        const int nan = (bits & 0x7FFFFFFF) > 0x7F800000;
        const unsigned int rounded = bits + 0x7FFF + ((bits >> 16) & 1);
        out[i] = nan ? (unsigned short)((bits >> 16) | 0x40) : (unsigned short)(rounded >> 16);
    }
}

static const nk_conversions conversions = {
    .f16_to_f32 = conversions_f16_to_f32,
    .f32_to_f16 = conversions_f32_to_f16,
    .bf16_to_f32 = conversions_bf16_to_f32,
    .f32_to_bf16 = conversions_f32_to_bf16,
};

#undef NK_CONVERT_VECTORS
