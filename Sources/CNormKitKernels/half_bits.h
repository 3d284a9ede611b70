// Scalar conversions between float and the bit patterns of the 16-bit types: exact widening,
// narrowing to nearest with ties to even, overflow to ±infinity, NaNs kept NaN (quiet). Used by
// the scalar tails of the loops (kernels_body.h, storage_access.h).
#ifndef NK_HALF_BITS_H
#define NK_HALF_BITS_H
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

static inline float nk_bf16_bits_to_f32(unsigned short bits) {
    const unsigned int wide = (unsigned int)bits << 16;
    float value;
    memcpy(&value, &wide, 4);
    return value;
}

static inline unsigned short nk_f32_to_bf16_bits(float value) {
    unsigned int bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7FFFFFFF) > 0x7F800000) return (unsigned short)((bits >> 16) | 0x40);
    return (unsigned short)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
}

#endif
