@testable import NormKit

/// The tests' seeded generator: NormKit's own, so every case is reproducible from its seed.
typealias SeededRandom = SeededGenerator

extension SeededGenerator {
    /// A tensor of normal samples with the given mean and standard deviation.
    mutating func tensor<Scalar: NormScalar>(
        _ shape: [Int], mean: Double = 0, std: Double = 1, as _: Scalar.Type = Scalar.self
    ) -> Tensor<Scalar> {
        .randomNormal(shape: shape, mean: mean, std: std, using: &self)
    }
}
