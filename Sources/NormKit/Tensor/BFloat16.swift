import Foundation

/// The bfloat16 format: the upper 16 bits of a `Float` (1 sign, 8 exponent and 7 fraction bits),
/// with `Float`'s range and about 3 significant decimal digits, as PyTorch's `torch.bfloat16`.
///
/// A storage type: NormKit's layers take `Tensor<BFloat16>` inputs and compute in `Float`
/// (see <doc:HalfPrecision>). Arithmetic on single values runs in `Float` and rounds the
/// result to nearest, ties to even, as PyTorch's `c10::BFloat16` does (a result that `Float`
/// itself had to round may then be one bfloat16 unit off the correctly rounded one).
public struct BFloat16: Sendable {
    /// The bits: sign, exponent and fraction, as the upper half of the `Float` they extend to.
    public var bitPattern: UInt16

    /// The value with these bits.
    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// `value` rounded to the nearest bfloat16, ties to even; beyond the largest finite value,
    /// ±∞; a NaN stays a NaN.
    public init(_ value: Float) { bitPattern = HalfPrecisionBits.bfloat16(from: value) }

    /// The value as a `Float`: exact.
    var float: Float { HalfPrecisionBits.float(fromBFloat16: bitPattern) }
}

extension Float {
    /// The `Float` a bfloat16 stands for: exact.
    public init(_ value: BFloat16) { self = value.float }
}

extension UInt32 {
    /// A `Float` bit pattern with the sign bit of `value`.
    fileprivate func withSign(of value: Double) -> UInt32 { value.sign == .minus ? self | 0x8000_0000 : self }
}

extension BFloat16: BinaryFloatingPoint {
    public typealias RawSignificand = UInt16
    public typealias RawExponent = UInt
    public typealias Exponent = Int
    public typealias Stride = BFloat16
    public typealias Magnitude = BFloat16

    public static var exponentBitCount: Int { 8 }
    public static var significandBitCount: Int { 7 }
    public static var radix: Int { 2 }
    public static var nan: BFloat16 { BFloat16(bitPattern: 0x7FC0) }
    public static var signalingNaN: BFloat16 { BFloat16(bitPattern: 0x7FA0) }
    public static var infinity: BFloat16 { BFloat16(bitPattern: 0x7F80) }
    public static var greatestFiniteMagnitude: BFloat16 { BFloat16(bitPattern: 0x7F7F) }
    /// π rounded toward zero, as `FloatingPoint.pi` is: 3.140625.
    public static var pi: BFloat16 { BFloat16(bitPattern: 0x4049) }
    public static var leastNormalMagnitude: BFloat16 { BFloat16(bitPattern: 0x0080) }
    public static var leastNonzeroMagnitude: BFloat16 { BFloat16(bitPattern: 0x0001) }

    public init(sign: FloatingPointSign, exponentBitPattern: UInt, significandBitPattern: UInt16) {
        bitPattern = (sign == .minus ? 0x8000 : 0) | UInt16(exponentBitPattern & 0xFF) << 7 | (significandBitPattern & 0x7F)
    }

    public init(sign: FloatingPointSign, exponent: Int, significand: BFloat16) {
        self.init(Float(sign: sign, exponent: exponent, significand: significand.float))
    }

    public init(floatLiteral value: Float) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(Float(value)) }
    public init<Source: BinaryInteger>(_ value: Source) { self.init(Float(value)) }

    /// `value` rounded to the nearest bfloat16, ties to even, in one rounding: the value is first
    /// cut to a `Float` rounded to odd (toward zero, with the last bit set when inexact), which
    /// keeps the final rounding correct.
    public init<Source: BinaryFloatingPoint>(_ value: Source) {
        if let float = value as? Float { self.init(float); return }
        let wide = Double(value)
        var float = Float(wide)
        if float.isFinite, Double(float) != wide {
            if abs(Double(float)) > abs(wide), !float.isZero { float = Float(bitPattern: float.bitPattern - 1) }
            float = Float(bitPattern: float.bitPattern | 1)
        } else if float.isInfinite, wide.isFinite {
            float = Float(bitPattern: Float.greatestFiniteMagnitude.bitPattern.withSign(of: wide))
        }
        self.init(float)
    }

    public init?<Source: BinaryFloatingPoint>(exactly value: Source) {
        guard let float = Float(exactly: value), BFloat16(float).float == float else { return nil }
        self.init(float)
    }

    public init?<Source: BinaryInteger>(exactly value: Source) {
        guard let float = Float(exactly: value), BFloat16(float).float == float else { return nil }
        self.init(float)
    }

    public var exponentBitPattern: UInt { UInt((bitPattern >> 7) & 0xFF) }
    public var significandBitPattern: UInt16 { bitPattern & 0x7F }
    public var sign: FloatingPointSign { bitPattern & 0x8000 != 0 ? .minus : .plus }
    public var exponent: Int { float.exponent }
    public var significand: BFloat16 { BFloat16(float.significand) }
    public var magnitude: BFloat16 { BFloat16(bitPattern: bitPattern & 0x7FFF) }
    public var binade: BFloat16 { BFloat16(float.binade) }
    public var significandWidth: Int { float.significandWidth }

    /// The distance to the next value of larger magnitude: 2^(exponent − 7), or the smallest
    /// subnormal below the normal range; NaN for NaN and infinities.
    public var ulp: BFloat16 {
        guard isFinite else { return .nan }
        let biased = Int(exponentBitPattern)
        if biased > 7 { return BFloat16(sign: .plus, exponentBitPattern: UInt(biased - 7), significandBitPattern: 0) }
        return BFloat16(bitPattern: biased == 0 ? 1 : UInt16(1) << UInt16(biased - 1))
    }

    public var nextUp: BFloat16 {
        if isNaN || self == .infinity { return self }
        if isZero { return .leastNonzeroMagnitude }
        return BFloat16(bitPattern: sign == .plus ? bitPattern + 1 : bitPattern - 1)
    }

    public var isNormal: Bool { float.isNormal }
    public var isFinite: Bool { float.isFinite }
    public var isZero: Bool { bitPattern & 0x7FFF == 0 }
    public var isSubnormal: Bool { float.isSubnormal }
    public var isInfinite: Bool { float.isInfinite }
    public var isNaN: Bool { float.isNaN }
    public var isSignalingNaN: Bool { float.isSignalingNaN }
    public var isCanonical: Bool { true }

    public static func + (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float + b.float) }
    public static func - (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float - b.float) }
    public static func * (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float * b.float) }
    public static func / (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float / b.float) }
    public static func += (a: inout BFloat16, b: BFloat16) { a = a + b }
    public static func -= (a: inout BFloat16, b: BFloat16) { a = a - b }
    public static func *= (a: inout BFloat16, b: BFloat16) { a = a * b }
    public static func /= (a: inout BFloat16, b: BFloat16) { a = a / b }
    public static prefix func - (a: BFloat16) -> BFloat16 { BFloat16(bitPattern: a.bitPattern ^ 0x8000) }
    public mutating func negate() { bitPattern ^= 0x8000 }

    public mutating func formRemainder(dividingBy other: BFloat16) { self = BFloat16(float.remainder(dividingBy: other.float)) }
    public mutating func formTruncatingRemainder(dividingBy other: BFloat16) {
        self = BFloat16(float.truncatingRemainder(dividingBy: other.float))
    }
    public mutating func formSquareRoot() { self = BFloat16(float.squareRoot()) }
    public mutating func addProduct(_ a: BFloat16, _ b: BFloat16) { self = BFloat16(float.addingProduct(a.float, b.float)) }
    public mutating func round(_ rule: FloatingPointRoundingRule) { self = BFloat16(float.rounded(rule)) }

    public func isEqual(to other: BFloat16) -> Bool { float == other.float }
    public func isLess(than other: BFloat16) -> Bool { float < other.float }
    public func isLessThanOrEqualTo(_ other: BFloat16) -> Bool { float <= other.float }
    public func isTotallyOrdered(belowOrEqualTo other: BFloat16) -> Bool { float.isTotallyOrdered(belowOrEqualTo: other.float) }

    public func distance(to other: BFloat16) -> BFloat16 { other - self }
    public func advanced(by amount: BFloat16) -> BFloat16 { self + amount }

    public func hash(into hasher: inout Hasher) { hasher.combine(float) }
}

extension BFloat16: Codable {
    /// Encodes the value as a `Float` (exact).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(float)
    }

    /// Decodes a number and rounds it to bfloat16.
    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(Float.self))
    }
}

extension BFloat16: CustomStringConvertible, LosslessStringConvertible {
    /// The shortest decimal text that reads back as this value.
    public var description: String {
        if isNaN { return "nan" }
        // The shortest Float text may carry digits bfloat16 does not have; try shorter forms first.
        for digits in 1...9 {
            let text = String(format: "%.\(digits)g", Double(float))
            if let value = Float(text), BFloat16(value) == self { return text }
        }
        return float.description
    }

    public init?(_ description: String) {
        guard let value = Float(description) else { return nil }
        self.init(value)
    }
}
