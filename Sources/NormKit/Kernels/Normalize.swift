extension Kernels {
    /// y = (x − mean[g]) · invstd[g] · weight[c] + bias[c], where g is the statistic group of the
    /// element and c its channel. Arithmetic happens in `Scalar.Accumulator`; a missing weight is
    /// 1 and a missing bias 0.
    static func normalize<Scalar: NormScalar>(
        _ x: [Scalar], geometry: NormalizationGeometry,
        mean: [Scalar.Accumulator], invstd: [Scalar.Accumulator],
        weight: [Scalar]?, bias: [Scalar]?
    ) -> [Scalar] {
        typealias Acc = Scalar.Accumulator
        let inner = geometry.inner, channels = geometry.channels
        return [Scalar](unsafeUninitializedCapacity: x.count) { y, initialized in
            x.withUnsafeBufferPointer { x in
                for n in 0..<geometry.outer {
                    for c in 0..<channels {
                        let index = geometry.statisticIndex(sample: n, channel: c)
                        let scale = invstd[index] * (weight.map { Acc($0[c]) } ?? 1)
                        let shift = bias.map { Acc($0[c]) } ?? 0
                        let mu = mean[index]
                        let base = (n * channels + c) * inner
                        for s in 0..<inner {
                            y[base + s] = Scalar((Acc(x[base + s]) - mu) * scale + shift)
                        }
                    }
                }
            }
            initialized = x.count
        }
    }
}
