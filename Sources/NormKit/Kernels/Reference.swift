/// The plain form of every kernel: scalar loops in `Double` over row-major storage, separate
/// passes for the moments (mean, its refinement, then squared deviations), no SIMD, no blocking, no threads. The tests
/// run the fast kernels against these on seeded shapes, in both memory formats.
enum ReferenceKernels {
    /// Mean and M2 (Σx² when not centered) of each statistic group.
    static func moments(_ x: [Double], geometry g: NormalizationGeometry, centered: Bool) -> Moments {
        var mean = [Double](repeating: 0, count: g.statisticCount), m2 = mean
        let count = g.elementsPerStatistic
        forEachRun(g) { n, c, base in
            if centered { for s in 0..<g.inner { mean[g.statisticIndex(sample: n, channel: c)] += x[base + s] } }
        }
        if centered && count > 0 {
            mean = mean.map { $0 / Double(count) }
            // One refinement, mean += Σ(x − mean)/n, removes the rounding of the first sum.
            var correction = [Double](repeating: 0, count: mean.count)
            forEachRun(g) { n, c, base in
                let index = g.statisticIndex(sample: n, channel: c)
                for s in 0..<g.inner { correction[index] += x[base + s] - mean[index] }
            }
            for i in mean.indices { mean[i] += correction[i] / Double(count) }
        }
        forEachRun(g) { n, c, base in
            let index = g.statisticIndex(sample: n, channel: c)
            for s in 0..<g.inner { m2[index] += (x[base + s] - mean[index]) * (x[base + s] - mean[index]) }
        }
        return Moments(count: count, mean: mean, m2: m2)
    }

    /// y = (x − mean)·invstd·γ + β.
    static func normalize(
        _ x: [Double], geometry g: NormalizationGeometry, mean: [Double], invstd: [Double], weight: [Double]?, bias: [Double]?
    ) -> [Double] {
        var y = x
        forEachRun(g) { n, c, base in
            let index = g.statisticIndex(sample: n, channel: c)
            for s in 0..<g.inner {
                y[base + s] = (x[base + s] - mean[index]) * invstd[index] * (weight?[c] ?? 1) + (bias?[c] ?? 0)
            }
        }
        return y
    }

    /// The input gradient and the per-channel Σdy, Σdy·x̂, from the formula of ``GradientMode``.
    static func backward(
        _ x: [Double], _ dy: [Double], geometry g: NormalizationGeometry, mean: [Double], invstd: [Double],
        weight: [Double]?, mode: GradientMode
    ) -> (input: [Double], sumDy: [Double], sumDyXhat: [Double]) {
        var sumDy = [Double](repeating: 0, count: g.channels), sumDyXhat = sumDy
        var sumG = [Double](repeating: 0, count: g.statisticCount), sumGXhat = sumG
        forEachRun(g) { n, c, base in
            let index = g.statisticIndex(sample: n, channel: c), gamma = weight?[c] ?? 1
            for s in 0..<g.inner {
                let xhat = (x[base + s] - mean[index]) * invstd[index]
                sumDy[c] += dy[base + s]
                sumDyXhat[c] += dy[base + s] * xhat
                sumG[index] += gamma * dy[base + s]
                sumGXhat[index] += gamma * dy[base + s] * xhat
            }
        }
        var dx = x
        forEachRun(g) { n, c, base in
            let index = g.statisticIndex(sample: n, channel: c), gamma = weight?[c] ?? 1, r = invstd[index]
            var meanG = sumG[index] / Double(g.elementsPerStatistic), meanGXhat = sumGXhat[index] / Double(g.elementsPerStatistic)
            switch mode {
            case .constant: (meanG, meanGXhat) = (0, 0)
            case .batch(centered: false): meanG = 0
            case .batch(centered: true): break
            case let .globalSums(global, count):
                meanG = gamma * global.sumGradOutput[c] / Double(count)
                meanGXhat = gamma * global.sumGradOutputTimesNormalized[c] / Double(count)
            }
            for s in 0..<g.inner {
                let xhat = (x[base + s] - mean[index]) * r
                dx[base + s] = r * (gamma * dy[base + s] - meanG - xhat * meanGXhat)
            }
        }
        return (dx, sumDy, sumDyXhat)
    }

    /// Calls `body(n, c, offset)` for each run of `inner` row-major elements.
    private static func forEachRun(_ g: NormalizationGeometry, _ body: (Int, Int, Int) -> Void) {
        for n in 0..<g.outer {
            for c in 0..<g.channels { body(n, c, (n * g.channels + c) * g.inner) }
        }
    }
}
