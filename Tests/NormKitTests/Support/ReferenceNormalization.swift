@testable import NormKit

/// A slow, obviously-correct normalization in Double, written from the definition with explicit
/// index arithmetic: for each element, gather the elements that share its statistic, compute
/// their mean and biased variance directly, and normalize. No engine code is shared.
enum ReferenceNormalization {
    /// Normalizes `x` (row-major, `shape`), where two elements share statistics exactly when
    /// `key` maps their multi-indices to the same value, and the affine parameters are looked up
    /// by `parameterIndex`.
    static func normalize(
        _ x: [Double], shape: [Int], eps: Double, centered: Bool = true,
        key: ([Int]) -> [Int], parameterIndex: ([Int]) -> Int, weight: [Double]?, bias: [Double]?
    ) -> [Double] {
        let indices = allIndices(shape)
        var groups: [[Int]: [Int]] = [:]
        for (offset, index) in indices.enumerated() { groups[key(index), default: []].append(offset) }
        var y = [Double](repeating: 0, count: x.count)
        for (_, members) in groups {
            let values = members.map { x[$0] }
            let mean = centered ? values.reduce(0, +) / Double(values.count) : 0
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            for offset in members {
                let p = parameterIndex(indices[offset])
                y[offset] = (x[offset] - mean) / (variance + eps).squareRoot() * (weight?[p] ?? 1) + (bias?[p] ?? 0)
            }
        }
        return y
    }

    /// Every multi-index of `shape` in row-major order.
    static func allIndices(_ shape: [Int]) -> [[Int]] {
        var result: [[Int]] = [[]]
        for size in shape {
            result = result.flatMap { prefix in (0..<size).map { prefix + [$0] } }
        }
        return result
    }
}
