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
enum HalfPrecisionBits {
    /// The `Float` a binary16 bit pattern stands for.
    static func float(fromFloat16 bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let fraction = UInt32(bits & 0x03FF)
        switch exponent {
        case 0x1F:  // infinity or NaN: keep the payload in the leading fraction bits
            return Float(bitPattern: sign | 0x7F80_0000 | fraction << 13)
        case 0:     // zero or subnormal: fraction · 2⁻²⁴, exact in Float
            let magnitude = Float(fraction) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        default:    // normal: rebias the exponent from 15 to 127
            return Float(bitPattern: sign | (exponent + 112) << 23 | fraction << 13)
        }
    }

    /// The binary16 bit pattern nearest to `value`, ties to even.
    static func float16(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(bits >> 16) & 0x8000
        let exponent = Int((bits >> 23) & 0xFF)
        let fraction = bits & 0x007F_FFFF
        if exponent == 0xFF {
            // Infinity, or NaN with the quiet bit set so that a payload in the low bits survives.
            return fraction == 0 ? sign | 0x7C00 : sign | 0x7E00 | UInt16(fraction >> 13)
        }
        // Unbiased exponent e: normal binary16 needs −14 ≤ e ≤ 15.
        let unbiased = exponent - 127
        if unbiased > 15 { return sign | 0x7C00 }
        // The significand with its implicit bit (24 bits), shifted so that binary16's last kept
        // bit is bit `drop` of it; a normal result keeps 11 bits, a subnormal fewer.
        let significand = exponent == 0 ? fraction : fraction | 0x0080_0000
        let drop = unbiased >= -14 ? 13 : 13 + (-14 - unbiased)
        guard drop < 25 else { return sign }  // below half the smallest subnormal: ±0
        var kept = significand >> UInt32(drop)
        let remainder = significand & ((1 << UInt32(drop)) - 1)
        let half: UInt32 = 1 << UInt32(drop - 1)
        if remainder > half || (remainder == half && kept & 1 == 1) { kept += 1 }
        if unbiased < -14 {
            // Subnormal (or rounded up into the smallest normal, which the bit layout handles).
            return sign | UInt16(kept)
        }
        // Normal: a carry out of the 11-bit significand bumps the exponent (and may reach ∞).
        let result = UInt32(unbiased + 15) << 10 + (kept - 0x400)
        return sign | UInt16(min(result, 0x7C00))
    }

    /// The `Float` a bfloat16 bit pattern stands for.
    static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// The bfloat16 bit pattern nearest to `value`, ties to even.
    static func bfloat16(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
        // Adding 0x7FFF plus the last kept bit rounds to nearest, ties to even; a carry into the
        // exponent is the correct result, up to ∞.
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }
}
