/// The first two moments of each statistic group, computed in two passes over memory
/// (mean first, then the sum of squared deviations), accumulated in `Scalar.Accumulator`.
///
/// Two passes never lose precision to cancellation the way the one-pass E[x²] − E[x]² does:
/// a Float input with mean 1e4 and standard deviation 0.1 keeps all its significant digits.
struct Moments<Accumulator: NormScalar>: Sendable, Equatable {
    /// Elements pooled into each statistic.
    var count: Int
    /// The mean of each group (zero for uncentered moments).
    var mean: [Accumulator]
    /// Σ (x − mean)² of each group: the `M2` of Welford and Chan.
    var m2: [Accumulator]

    /// The biased variance `M2 / n`, the one used to normalize.
    var biasedVariance: [Accumulator] {
        m2.map { count > 0 ? $0 / Accumulator(count) : 0 }
    }

    /// The unbiased variance `M2 / (n − 1)`, the one running statistics track.
    /// With a single element it is NaN, as PyTorch's is.
    var unbiasedVariance: [Accumulator] {
        m2.map { count > 1 ? $0 / Accumulator(count - 1) : .nan }
    }

    /// `1 / √(M2 / n + eps)` for each group.
    func inverseStandardDeviation(eps: Double) -> [Accumulator] {
        biasedVariance.map { 1 / ($0 + Accumulator(eps)).squareRoot() }
    }

    /// Chan's parallel merge of two sets of moments over disjoint data.
    ///
    /// δ = μ_b − μ_a, μ = μ_a + δ·n_b/n, M2 = M2_a + M2_b + δ²·n_a·n_b/n. Used to combine
    /// per-rank moments in SyncBatchNorm, weighting ranks by their element counts.
    static func merged(_ a: Moments, _ b: Moments) -> Moments {
        if a.count == 0 { return b }
        if b.count == 0 { return a }
        let n = a.count + b.count
        let na = Accumulator(a.count), nb = Accumulator(b.count), nt = Accumulator(n)
        var result = Moments(count: n, mean: a.mean, m2: a.m2)
        for i in a.mean.indices {
            let delta = b.mean[i] - a.mean[i]
            result.mean[i] = a.mean[i] + delta * nb / nt
            result.m2[i] = a.m2[i] + b.m2[i] + delta * delta * na * nb / nt
        }
        return result
    }
}

extension Kernels {
    /// Computes the moments of every statistic group of `x`.
    ///
    /// With `centered == false` (RMSNorm) the mean is taken to be zero and `m2` is Σx².
    static func moments<Scalar: NormScalar>(
        _ x: [Scalar], geometry: NormalizationGeometry, centered: Bool
    ) -> Moments<Scalar.Accumulator> {
        typealias Acc = Scalar.Accumulator
        let statistics = geometry.statisticCount
        let count = geometry.elementsPerStatistic
        var mean = [Acc](repeating: 0, count: statistics)
        var m2 = [Acc](repeating: 0, count: statistics)
        let inner = geometry.inner, channels = geometry.channels
        x.withUnsafeBufferPointer { x in
            if centered && count > 0 {
                for n in 0..<geometry.outer {
                    for c in 0..<channels {
                        let base = (n * channels + c) * inner
                        var sum: Acc = 0
                        for s in 0..<inner { sum += Acc(x[base + s]) }
                        mean[geometry.statisticIndex(sample: n, channel: c)] += sum
                    }
                }
                for i in mean.indices { mean[i] /= Acc(count) }
            }
            for n in 0..<geometry.outer {
                for c in 0..<channels {
                    let base = (n * channels + c) * inner
                    let index = geometry.statisticIndex(sample: n, channel: c)
                    let mu = mean[index]
                    var sum: Acc = 0
                    for s in 0..<inner {
                        let d = Acc(x[base + s]) - mu
                        sum += d * d
                    }
                    m2[index] += sum
                }
            }
        }
        return Moments(count: count, mean: mean, m2: m2)
    }
}
