/// The per-channel sums the backward pass needs, Σdy and Σdy·x̂ with x̂ = (x − mean)·invstd.
///
/// They are the weight and bias gradients (∂L/∂γ = Σdy·x̂, ∂L/∂β = Σdy), and, weighted by γ and
/// pooled per statistic group, the two correction terms of the input gradient. SyncBatchNorm
/// all-reduces exactly these two vectors.
struct BackwardSums<Accumulator: NormScalar>: Sendable, Equatable {
    /// Σ dy for each channel.
    var sumGradOutput: [Accumulator]
    /// Σ dy · x̂ for each channel.
    var sumGradOutputTimesNormalized: [Accumulator]
}

extension Kernels {
    /// Weights per-channel sums by γ: the Σg and Σg·x̂ (g = γ·dy) of the input-gradient formula
    /// for the `.perChannel` grouping, where each channel is its own group. SyncBatchNorm calls it
    /// after all-reducing the per-channel sums.
    static func pooledPerChannel<Acc: NormScalar>(
        _ sums: BackwardSums<Acc>, weight: [Acc]?
    ) -> (sumG: [Acc], sumGXhat: [Acc]) {
        guard let weight else { return (sums.sumGradOutput, sums.sumGradOutputTimesNormalized) }
        return (zip(sums.sumGradOutput, weight).map(*), zip(sums.sumGradOutputTimesNormalized, weight).map(*))
    }

    /// In one pass: the per-channel sums Σdy and Σdy·x̂ (the bias and weight gradients), and
    /// Σg and Σg·x̂ (g = γ·dy) pooled over each statistic group.
    static func backwardSums<Scalar: NormScalar>(
        input x: [Scalar], gradOutput dy: [Scalar], geometry: NormalizationGeometry,
        mean: [Scalar.Accumulator], invstd: [Scalar.Accumulator], weight: [Scalar]?
    ) -> (channel: BackwardSums<Scalar.Accumulator>, sumG: [Scalar.Accumulator], sumGXhat: [Scalar.Accumulator]) {
        typealias Acc = Scalar.Accumulator
        let inner = geometry.inner, channels = geometry.channels
        var sumDy = [Acc](repeating: 0, count: channels)
        var sumDyXhat = [Acc](repeating: 0, count: channels)
        var sumG = [Acc](repeating: 0, count: geometry.statisticCount)
        var sumGXhat = [Acc](repeating: 0, count: geometry.statisticCount)
        x.withUnsafeBufferPointer { x in
            dy.withUnsafeBufferPointer { dy in
                for n in 0..<geometry.outer {
                    for c in 0..<channels {
                        let index = geometry.statisticIndex(sample: n, channel: c)
                        let mu = mean[index], sigmaInverse = invstd[index]
                        let base = (n * channels + c) * inner
                        var a: Acc = 0, b: Acc = 0
                        for s in 0..<inner {
                            let g = Acc(dy[base + s])
                            a += g
                            b += g * (Acc(x[base + s]) - mu) * sigmaInverse
                        }
                        let gamma = weight.map { Acc($0[c]) } ?? 1
                        sumDy[c] += a
                        sumDyXhat[c] += b
                        sumG[index] += gamma * a
                        sumGXhat[index] += gamma * b
                    }
                }
            }
        }
        return (BackwardSums(sumGradOutput: sumDy, sumGradOutputTimesNormalized: sumDyXhat), sumG, sumGXhat)
    }

    /// The input gradient, elementwise.
    ///
    /// With statistics computed from the batch (`sumG` and `sumGXhat` given, pooled over `count`
    /// elements per group):
    ///   dx = invstd · (γ·dy − Σg/M − x̂ · Σg·x̂/M)      (centered: BatchNorm, GroupNorm, LayerNorm)
    ///   dx = invstd · (γ·dy − x̂ · Σg·x̂/M)             (uncentered: RMSNorm)
    /// With statistics held constant (`sums == nil`, eval mode with running statistics):
    ///   dx = invstd · γ · dy
    static func inputGradient<Scalar: NormScalar>(
        input x: [Scalar], gradOutput dy: [Scalar], geometry: NormalizationGeometry,
        mean: [Scalar.Accumulator], invstd: [Scalar.Accumulator], weight: [Scalar]?,
        sums: (sumG: [Scalar.Accumulator], sumGXhat: [Scalar.Accumulator], count: Int)?,
        centered: Bool
    ) -> [Scalar] {
        typealias Acc = Scalar.Accumulator
        let inner = geometry.inner, channels = geometry.channels
        return [Scalar](unsafeUninitializedCapacity: x.count) { dx, initialized in
            x.withUnsafeBufferPointer { x in
                dy.withUnsafeBufferPointer { dy in
                    for n in 0..<geometry.outer {
                        for c in 0..<channels {
                            let index = geometry.statisticIndex(sample: n, channel: c)
                            let mu = mean[index], sigmaInverse = invstd[index]
                            let gamma = weight.map { Acc($0[c]) } ?? 1
                            let base = (n * channels + c) * inner
                            guard let sums else {
                                let scale = gamma * sigmaInverse
                                for s in 0..<inner { dx[base + s] = Scalar(Acc(dy[base + s]) * scale) }
                                continue
                            }
                            let m = Acc(sums.count)
                            let meanG = centered ? sums.sumG[index] / m : 0
                            let meanGXhat = sums.sumGXhat[index] / m
                            for s in 0..<inner {
                                let xhat = (Acc(x[base + s]) - mu) * sigmaInverse
                                let g = gamma * Acc(dy[base + s])
                                dx[base + s] = Scalar(sigmaInverse * (g - meanG - xhat * meanGXhat))
                            }
                        }
                    }
                }
            }
            initialized = x.count
        }
    }
}
