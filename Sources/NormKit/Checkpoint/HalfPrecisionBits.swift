internal import CNormKitKernels

/// Exact conversions between `Float` and the two 16-bit floating-point formats, on their bit
/// patterns, so that they work wherever Swift runs (the `Float16` type is missing on macOS
/// x86_64).
///
/// - binary16 (`F16`): 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits; subnormals below
///   2⁻¹⁴, largest finite value 65504.
/// - bfloat16 (`BF16`): the upper 16 bits of a `Float`: 1 sign, 8 exponent, 7 fraction bits.
///
/// Widening to `Float` is exact. Narrowing rounds to nearest, ties to even, as PyTorch's
/// `.half()` and `.bfloat16()` do; values beyond the largest finite value become ±∞; infinities
/// stay infinities, and a NaN stays a NaN with its sign and as many of its payload's leading bits
/// as fit, with the quiet bit set.
///
/// The arithmetic is the C kernels' own (`half_bits.h` in CNormKitKernels), so that a value
/// converted here and one converted in a loop's scalar tail always agree.
enum HalfPrecisionBits {
    /// The `Float` a binary16 bit pattern stands for.
    @inline(__always)
    static func float(fromFloat16 bits: UInt16) -> Float { nk_f16_bits_to_f32(bits) }

    /// The binary16 bit pattern nearest to `value`, ties to even.
    @inline(__always)
    static func float16(from value: Float) -> UInt16 { nk_f32_to_f16_bits(value) }

    /// The `Float` a bfloat16 bit pattern stands for.
    @inline(__always)
    static func float(fromBFloat16 bits: UInt16) -> Float { nk_bf16_bits_to_f32(bits) }

    /// The bfloat16 bit pattern nearest to `value`, ties to even.
    @inline(__always)
    static func bfloat16(from value: Float) -> UInt16 { nk_f32_to_bf16_bits(value) }
}
