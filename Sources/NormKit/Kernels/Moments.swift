/// The first two moments of each statistic group: count, mean and M2 = Σ (x − mean)², in
/// `Double` whatever the scalar type.
///
/// The kernels never use the one-pass E[x²] − E[x]²: they sum deviations from a shift close to
/// the mean over short blocks (see ``Kernels/accumulateRange(_:_:into:)``) and merge blocks with
/// Chan's formula, so a Float input with mean 1e4 and standard deviation 0.1 keeps all its digits.
struct Moments: Sendable, Equatable {
    /// Elements pooled into each statistic.
    var count: Int
    /// The mean of each group (zero for uncentered moments).
    var mean: [Double]
    /// Σ (x − mean)² of each group: the `M2` of Welford and Chan (Σx² for uncentered moments).
    var m2: [Double]

    /// The biased variance `M2 / n`, the one used to normalize.
    var biasedVariance: [Double] {
        m2.map { count > 0 ? $0 / Double(count) : 0 }
    }

    /// The unbiased variance `M2 / (n − 1)`, the one running statistics track.
    /// With a single element it is NaN, as PyTorch's is.
    var unbiasedVariance: [Double] {
        m2.map { count > 1 ? $0 / Double(count - 1) : .nan }
    }

    /// `1 / √(M2 / n + eps)` for each group.
    func inverseStandardDeviation(eps: Double) -> [Double] {
        biasedVariance.map { 1 / ($0 + eps).squareRoot() }
    }

    /// Chan's parallel merge of two sets of moments over disjoint data.
    ///
    /// δ = μ_b − μ_a, μ = μ_a + δ·n_b/n, M2 = M2_a + M2_b + δ²·n_a·n_b/n. Used to combine
    /// per-rank moments in SyncBatchNorm, weighting ranks by their element counts.
    static func merged(_ a: Moments, _ b: Moments) -> Moments {
        if a.count == 0 { return b }
        if b.count == 0 { return a }
        // Counts past Int.max (empty channels of huge batches on many ranks) stay at Int.max.
        let (count, overflow) = a.count.addingReportingOverflow(b.count)
        var result = Moments(count: overflow ? .max : count, mean: a.mean, m2: a.m2)
        for i in a.mean.indices {
            var moments = GroupMoments(count: Double(a.count), mean: a.mean[i], m2: a.m2[i])
            moments.merge(count: Double(b.count), mean: b.mean[i], m2: b.m2[i])
            result.mean[i] = moments.mean
            result.m2[i] = moments.m2
        }
        return result
    }
}

/// The moments of one statistic group while it is being accumulated.
struct GroupMoments: Sendable, Equatable {
    var count: Double = 0
    var mean: Double = 0
    var m2: Double = 0

    /// Chan's merge of another block's moments into these.
    @inline(__always)
    mutating func merge(count n: Double, mean blockMean: Double, m2 blockM2: Double) {
        guard n > 0 else { return }
        guard count > 0 else {
            (count, mean, m2) = (n, blockMean, blockM2)
            return
        }
        let total = count + n
        let delta = blockMean - mean
        mean += delta * (n / total)
        m2 += blockM2 + delta * delta * (count * n / total)
        count = total
    }

    @inline(__always)
    mutating func merge(_ other: GroupMoments) { merge(count: other.count, mean: other.mean, m2: other.m2) }
}
