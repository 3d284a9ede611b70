@testable import NormKit

/// A small deterministic generator (SplitMix64) so every test case is reproducible from its seed.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box–Muller).
    mutating func normal() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    /// A tensor of normal samples with the given mean and standard deviation.
    mutating func tensor<Scalar: NormScalar>(
        _ shape: [Int], mean: Double = 0, std: Double = 1, as _: Scalar.Type = Scalar.self
    ) -> Tensor<Scalar> {
        let values = (0..<shape.reduce(1, *)).map { _ in Scalar(mean + std * normal()) }
        return try! Tensor(shape: shape, scalars: values)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
