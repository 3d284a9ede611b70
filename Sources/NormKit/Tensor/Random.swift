/// A small, fast, deterministic random number generator (SplitMix64, Steele, Lea & Flood 2014):
/// the same seed gives the same stream on every platform and in every process, which is what
/// reproducible tests, data-parallel ranks and training runs need.
///
/// ```swift
/// var random = SeededGenerator(seed: 42)
/// let x = Tensor<Float>.randomNormal(shape: [2, 3], using: &random)
/// ```
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose sequence is fixed by `seed`: the same seed gives the same numbers on
    /// every platform.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits (SplitMix64: the state advances by 0x9E3779B97F4A7C15 and is mixed).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A sample of the standard normal distribution (Box–Muller).
    public mutating func normal() -> Double {
        RandomSampling.standardNormal(using: &self)
    }
}

/// Random tensors.
///
/// Samples are drawn in `Double` and rounded to `Scalar` once, in NormKit's specialized
/// conversion kernel. With a ``SeededGenerator`` the whole sampling loop is compiled inside
/// NormKit for that generator. With any other `RandomNumberGenerator` it runs as generic code,
/// one call through the generator's witness table per 64 random bits: NormKit cannot specialize
/// for a generator type it does not see (see `Kernels/Specialization.swift`). That costs a few
/// nanoseconds per element, fine for initializing weights and test data; for large tensors on a
/// hot path, use ``SeededGenerator``.
extension Tensor {
    /// A tensor of independent normal samples N(`mean`, `std`²), as `torch.normal`.
    /// Traps on an invalid shape, as ``init(repeating:shape:)``.
    public static func randomNormal<Generator: RandomNumberGenerator>(
        shape: [Int], mean: Double = 0, std: Double = 1, using generator: inout Generator
    ) -> Tensor {
        let count = validCount(shape)
        return fromDoubles(shape, RandomSampling.normal(count: count, mean: mean, std: std, using: &generator))
    }

    /// A tensor of independent normal samples from a ``SeededGenerator``: the same stream for the
    /// same seed everywhere, sampled in code specialized inside NormKit.
    public static func randomNormal(
        shape: [Int], mean: Double = 0, std: Double = 1, using generator: inout SeededGenerator
    ) -> Tensor {
        let count = validCount(shape)
        return fromDoubles(shape, RandomSampling.normal(count: count, mean: mean, std: std, using: &generator))
    }

    /// A tensor of independent normal samples from the system's generator.
    public static func randomNormal(shape: [Int], mean: Double = 0, std: Double = 1) -> Tensor {
        var generator = SystemRandomNumberGenerator()
        return randomNormal(shape: shape, mean: mean, std: std, using: &generator)
    }

    /// A tensor of independent samples uniform on `range`, lower bound included, upper bound
    /// excluded even after rounding to `Scalar` (as `torch.rand` and `uniform_`).
    /// Traps on an invalid shape, or on an empty or infinite range.
    public static func randomUniform<Generator: RandomNumberGenerator>(
        shape: [Int], in range: Range<Scalar> = 0..<1, using generator: inout Generator
    ) -> Tensor {
        let count = validCount(shape), bounds = uniformBounds(range)
        return fromDoubles(shape, RandomSampling.uniform(count: count, bounds, using: &generator))
    }

    /// Uniform samples from a ``SeededGenerator``, sampled in code specialized inside NormKit.
    public static func randomUniform(
        shape: [Int], in range: Range<Scalar> = 0..<1, using generator: inout SeededGenerator
    ) -> Tensor {
        let count = validCount(shape), bounds = uniformBounds(range)
        return fromDoubles(shape, RandomSampling.uniform(count: count, bounds, using: &generator))
    }

    /// Uniform samples from the system's generator.
    public static func randomUniform(shape: [Int], in range: Range<Scalar> = 0..<1) -> Tensor {
        var generator = SystemRandomNumberGenerator()
        return randomUniform(shape: shape, in: range, using: &generator)
    }

    private static func validCount(_ shape: [Int]) -> Int {
        guard let count = checkedElementCount(shape) else { preconditionFailure("\(NormError.invalidShape(shape))") }
        return count
    }

    /// The range in `Double`, with the largest value whose rounding to `Scalar` stays below the
    /// upper bound.
    private static func uniformBounds(_ range: Range<Scalar>) -> RandomSampling.UniformBounds {
        precondition(!range.isEmpty && range.lowerBound.isFinite && range.upperBound.isFinite,
                     "randomUniform needs a non-empty finite range, got \(range)")
        return RandomSampling.UniformBounds(lower: Double(range.lowerBound), upper: Double(range.upperBound),
                                            largest: Double(range.upperBound.nextDown))
    }

    private static func fromDoubles(_ shape: [Int], _ values: [Double]) -> Tensor {
        Tensor(uncheckedShape: shape, scalars: Kernels.scalars(values))
    }
}

/// The sampling loops, in `Double` and generic only over the generator.
enum RandomSampling {
    struct UniformBounds {
        var lower: Double
        var upper: Double
        /// The largest `Double` that rounds to a `Scalar` below `upper`.
        var largest: Double
    }

    /// Box–Muller: √(−2 ln u₁)·cos(2π u₂), u₁ ∈ [ε, 1), u₂ ∈ [0, 1).
    @inline(__always)
    static func standardNormal<Generator: RandomNumberGenerator>(using generator: inout Generator) -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &generator)
        let u2 = Double.random(in: 0..<1, using: &generator)
        return (-2 * _log(u1)).squareRoot() * _cos(2 * .pi * u2)
    }

    static func normal<Generator: RandomNumberGenerator>(
        count: Int, mean: Double, std: Double, using generator: inout Generator
    ) -> [Double] {
        [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { (buffer.baseAddress! + i).initialize(to: mean + std * standardNormal(using: &generator)) }
            initialized = count
        }
    }

    static func uniform<Generator: RandomNumberGenerator>(
        count: Int, _ bounds: UniformBounds, using generator: inout Generator
    ) -> [Double] {
        [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                let u = Double(generator.next() >> 11) * 0x1p-53
                let x = (1 - u) * bounds.lower + u * bounds.upper
                (buffer.baseAddress! + i).initialize(to: min(max(x, bounds.lower), bounds.largest))
            }
            initialized = count
        }
    }
}

#if canImport(Glibc)
import Glibc
private func _log(_ x: Double) -> Double { Glibc.log(x) }
private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#elseif canImport(Darwin)
import Darwin
private func _log(_ x: Double) -> Double { Darwin.log(x) }
private func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#else
import Foundation
private func _log(_ x: Double) -> Double { Foundation.log(x) }
private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
#endif
