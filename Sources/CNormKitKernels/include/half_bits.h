// Scalar conversions between float and the bit patterns of the 16-bit types: exact widening,
// narrowing to nearest with ties to even, overflow to ±infinity, NaNs kept NaN (quiet), as
// PyTorch's `.half()` and `.bfloat16()` round. The one implementation of them: the scalar tails
// of the loops use it (storage_access.h), and so does NormKit's Swift side (`HalfPrecisionBits`:
// the checkpoint dtypes, `BFloat16`, single elements in the kernels).
#ifndef NK_HALF_BITS_H
#define NK_HALF_BITS_H
#include <string.h>

static inline unsigned int nk_float_bits(float value) {
    unsigned int bits;
    memcpy(&bits, &value, 4);
    return bits;
}

static inline float nk_bits_float(unsigned int bits) {
    float value;
    memcpy(&value, &bits, 4);
    return value;
}

static inline float nk_f16_bits_to_f32(unsigned short bits) {
    const unsigned int sign = (unsigned int)(bits & 0x8000) << 16, exponent = (bits >> 10) & 0x1F, fraction = bits & 0x3FF;
    if (exponent == 0x1F) return nk_bits_float(sign | 0x7F800000 | fraction << 13);  // ∞, NaN (payload kept)
    if (exponent == 0) return nk_bits_float(nk_float_bits((float)fraction * 0x1p-24f) | sign);  // zero, subnormal: exact
    return nk_bits_float(sign | (exponent + 112) << 23 | fraction << 13);  // normal: exponent rebiased 15 → 127
}

static inline unsigned short nk_f32_to_f16_bits(float value) {
    const unsigned int bits = nk_float_bits(value);
    const unsigned short sign = (unsigned short)((bits >> 16) & 0x8000);
    const int exponent = (int)((bits >> 23) & 0xFF);
    const unsigned int fraction = bits & 0x7FFFFF;
    // Infinity, or NaN with the quiet bit set so that a payload in the low bits survives.
    if (exponent == 0xFF) return fraction == 0 ? (unsigned short)(sign | 0x7C00) : (unsigned short)(sign | 0x7E00 | (fraction >> 13));
    const int unbiased = exponent - 127;  // a normal binary16 needs −14 ≤ e ≤ 15
    if (unbiased > 15) return (unsigned short)(sign | 0x7C00);
    // The significand with its implicit bit, shifted so that binary16's last kept bit is bit
    // `drop` of it: a normal result keeps 11 bits, a subnormal fewer.
    const unsigned int significand = exponent == 0 ? fraction : (fraction | 0x800000);
    const int drop = unbiased >= -14 ? 13 : 13 + (-14 - unbiased);
    if (drop >= 25) return sign;  // below half the smallest subnormal: ±0
    unsigned int kept = significand >> drop;
    const unsigned int remainder = significand & ((1u << drop) - 1), half = 1u << (drop - 1);
    if (remainder > half || (remainder == half && (kept & 1))) kept += 1;
    if (unbiased < -14) return (unsigned short)(sign | kept);  // subnormal, or rounded up into the smallest normal
    // Normal: a carry out of the 11-bit significand bumps the exponent (and may reach ∞).
    unsigned int result = ((unsigned int)(unbiased + 15) << 10) + (kept - 0x400);
    return (unsigned short)(sign | (result < 0x7C00 ? result : 0x7C00));
}

static inline float nk_bf16_bits_to_f32(unsigned short bits) { return nk_bits_float((unsigned int)bits << 16); }

static inline unsigned short nk_f32_to_bf16_bits(float value) {
    const unsigned int bits = nk_float_bits(value);
    if ((bits & 0x7FFFFFFF) > 0x7F800000) return (unsigned short)((bits >> 16) | 0x40);  // NaN, quieted
    // Adding 0x7FFF plus the last kept bit rounds to nearest, ties to even; a carry into the
    // exponent is the correct result, up to ∞.
    return (unsigned short)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
}

#endif
