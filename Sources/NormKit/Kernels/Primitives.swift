/// The SIMD loops every kernel is built from. Each works on raw pointers, allocates nothing,
/// and is generic only so that it can be written once: NormKit calls them from code specialized
/// for `Float` and `Double` (see `Specialization.swift`), never through a witness table.
///
/// Two shapes of data occur:
/// - a *range*: `count` contiguous elements that share one statistic (a channel's run of `inner`
///   elements in NCHW, a LayerNorm row);
/// - *columns*: `rows` rows of `columns` contiguous values, one statistic or affine coefficient
///   per column (channels-last tensors, and inner size 1).
///
/// Sums accumulate in the scalar type in SIMD lanes over at most ``Kernels/blockLength``
/// elements, then in `Double`.
extension Kernels {
    typealias Vector<S: NormScalar> = SIMD8<S>

    /// Elements summed in the scalar type before the sums move to `Double`.
    static let blockLength = 2048

    @inline(__always)
    static func load<S: NormScalar>(_ p: UnsafePointer<S>, _ i: Int) -> Vector<S> {
        UnsafeRawPointer(p + i).loadUnaligned(as: Vector<S>.self)
    }

    @inline(__always)
    static func store<S: NormScalar>(_ v: Vector<S>, _ p: UnsafeMutablePointer<S>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Vector<S>.self)
    }

    // MARK: Ranges

    /// Σ (x − k) and Σ (x − k)² over `count` ≤ ``blockLength`` contiguous elements.
    @inline(__always)
    static func shiftedSums<S: NormScalar>(_ x: UnsafePointer<S>, _ count: Int, shift k: S) -> (Double, Double) {
        let kv = Vector<S>(repeating: k)
        var a1 = Vector<S>(), a2 = Vector<S>(), b1 = Vector<S>(), b2 = Vector<S>()
        var i = 0
        while i + 16 <= count {
            let u = load(x, i) - kv, v = load(x, i + 8) - kv
            a1 += u; a2 += u * u; b1 += v; b2 += v * v
            i += 16
        }
        var s1 = Double((a1 + b1).sum()), s2 = Double((a2 + b2).sum())
        while i < count {
            let d = Double(x[i] - k)
            s1 += d; s2 += d * d
            i += 1
        }
        return (s1, s2)
    }

    /// Adds `count` contiguous elements to `moments`, block by block: each block's deviations are
    /// summed from a shift near the mean (the mean so far, or that of the first 16 elements), and the
    /// block is summed again from its own mean when the shift was too far off to keep the digits.
    static func accumulateRange<S: NormScalar>(_ x: UnsafePointer<S>, _ count: Int, into moments: inout GroupMoments) {
        var start = 0
        while start < count {
            let n = min(blockLength, count - start), block = x + start
            var shift = moments.count > 0 ? S(moments.mean) : roughMean(block, n)
            var (s1, s2) = shiftedSums(block, n, shift: shift)
            if needsNewShift(s1, s2, count: n) {
                shift = S(Double(shift) + s1 / Double(n))
                (s1, s2) = shiftedSums(block, n, shift: shift)
            }
            moments.merge(count: Double(n), mean: Double(shift) + s1 / Double(n), m2: blockM2(s1, s2, count: n))
            start += n
        }
    }

    /// Adds `runs` runs of `length` contiguous elements, `stride` apart (one BatchNorm channel in
    /// NCHW), to `moments`. Short runs are summed together from one shift and merged once per
    /// ``blockLength`` elements, so a 7×7 feature map costs no division per run; a long run goes
    /// through ``accumulateRange(_:_:into:)``.
    static func accumulateRuns<S: NormScalar>(
        _ x: UnsafePointer<S>, runs: Int, length: Int, stride: Int, into moments: inout GroupMoments
    ) {
        guard length > 0, length < blockLength / 2 else {
            for run in 0..<runs { accumulateRange(x + run * stride, length, into: &moments) }
            return
        }
        let runsPerBlock = blockLength / length
        var first = 0
        while first < runs {
            let block = first..<min(first + runsPerBlock, runs)
            let n = block.count * length
            var shift = moments.count > 0 ? S(moments.mean) : roughMean(x + first * stride, length)
            var sums = (0.0, 0.0)
            for pass in 0..<2 {
                sums = (0, 0)
                for run in block {
                    let (t1, t2) = shiftedSums(x + run * stride, length, shift: shift)
                    sums = (sums.0 + t1, sums.1 + t2)
                }
                guard pass == 0, needsNewShift(sums.0, sums.1, count: n) else { break }
                shift = S(Double(shift) + sums.0 / Double(n))
            }
            moments.merge(count: Double(n), mean: Double(shift) + sums.0 / Double(n), m2: blockM2(sums.0, sums.1, count: n))
            first = block.upperBound
        }
    }

    /// Whether a block's shifted sums lost more than one bit to cancellation (Σd)² ≈ n·Σd², or
    /// overflowed: then the block is summed again from its own mean.
    @inline(__always)
    static func needsNewShift(_ s1: Double, _ s2: Double, count n: Int) -> Bool {
        let square = s1 * s1
        return !square.isFinite || square > 0.5 * Double(n) * s2
    }

    /// M2 = Σd² − (Σd)²/n of one block, never below zero from rounding; NaN and ∞ pass through
    /// (an infinite variance normalizes to 0, as PyTorch's does).
    @inline(__always)
    static func blockM2(_ s1: Double, _ s2: Double, count n: Int) -> Double {
        let m2 = s2 - s1 * s1 / Double(n)
        return m2 < 0 ? 0 : m2
    }

    /// The mean of the first few elements: the first block's shift, close enough to its mean
    /// that the block is rarely summed twice.
    @inline(__always)
    static func roughMean<S: NormScalar>(_ x: UnsafePointer<S>, _ count: Int) -> S {
        let n = min(count, 16)
        var sum: S = 0
        for i in 0..<n { sum += x[i] }
        return sum / S(n)
    }

    /// Σ x² over `count` contiguous elements (the uncentered moment of RMSNorm).
    static func sumOfSquares<S: NormScalar>(_ x: UnsafePointer<S>, _ count: Int) -> Double {
        var total = 0.0, start = 0
        while start < count {
            let n = min(blockLength, count - start)
            total += shiftedSums(x + start, n, shift: 0).1
            start += n
        }
        return total
    }

    /// y = ((x − μ_hi) − μ_lo)·a + b over `count` contiguous elements.
    @inline(__always)
    static func affineRange<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, _ count: Int, mean: SplitMean<S>, scale a: S, offset b: S
    ) {
        // ((x − hi) − lo)·a + b = (x − hi)·a + (b − lo·a): x − hi is exact near the mean.
        let shifted = b - mean.lo * a
        let hi = Vector<S>(repeating: mean.hi), av = Vector<S>(repeating: a), bv = Vector<S>(repeating: shifted)
        var i = 0
        while i + 8 <= count {
            store((load(x, i) - hi) * av + bv, y, i)
            i += 8
        }
        while i < count {
            y[i] = (x[i] - mean.hi) * a + shifted
            i += 1
        }
    }

    /// y_i = ((x_i − μ_hi) − μ_lo)·invstd·w_i + b_i over one row whose affine parameters vary
    /// per element (LayerNorm, RMSNorm, GroupNorm with inner size 1). A missing weight is 1 and a
    /// missing bias 0.
    @inline(__always)
    static func affineRow<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, _ count: Int, mean: SplitMean<S>, invstd: S,
        weight: UnsafePointer<S>?, bias: UnsafePointer<S>?
    ) {
        let hi = Vector<S>(repeating: mean.hi), lo = Vector<S>(repeating: mean.lo), r = Vector<S>(repeating: invstd)
        var i = 0
        while i + 8 <= count {
            var v = ((load(x, i) - hi) - lo) * r
            if let weight { v *= load(weight, i) }
            if let bias { v += load(bias, i) }
            store(v, y, i)
            i += 8
        }
        while i < count {
            var v = ((x[i] - mean.hi) - mean.lo) * invstd
            if let weight { v *= weight[i] }
            if let bias { v += bias[i] }
            y[i] = v
            i += 1
        }
    }

    /// Σ dy and Σ dy·(x − μ) over `count` ≤ ``blockLength`` contiguous elements, each dy weighted
    /// by `weight[i]` when a weight row is given.
    @inline(__always)
    static func gradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ count: Int, mean: SplitMean<S>, weight: UnsafePointer<S>? = nil
    ) -> (Double, Double) {
        // Σg·(x − μ) = Σg·(x − hi) − lo·Σg.
        let hi = Vector<S>(repeating: mean.hi)
        var s1 = Vector<S>(), s2 = Vector<S>()
        var i = 0
        while i + 8 <= count {
            var g = load(dy, i)
            if let weight { g *= load(weight, i) }
            s1 += g
            s2 += g * (load(x, i) - hi)
            i += 8
        }
        var t1 = Double(s1.sum()), t2 = Double(s2.sum())
        while i < count {
            var g = dy[i]
            if let weight { g *= weight[i] }
            t1 += Double(g)
            t2 += Double(g * (x[i] - mean.hi))
            i += 1
        }
        return (t1, t2 - Double(mean.lo) * t1)
    }

    /// Σ w_i·dy_i and Σ w_i·dy_i·(x_i − μ) over `count` ≤ ``blockLength`` elements of one row, and,
    /// when `columns` is given, adds dy_i to `columns[i]` and dy_i·x̂_i to `columns[stride + i]`
    /// (the per-column sums of LayerNorm's weight and bias gradients).
    @inline(__always)
    static func rowGradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ count: Int, mean: SplitMean<S>, invstd: S,
        weight: UnsafePointer<S>?, columns: UnsafeMutablePointer<S>?, stride: Int
    ) -> (Double, Double) {
        guard let columns else { return gradientSums(x, dy, count, mean: mean, weight: weight) }
        let hi = Vector<S>(repeating: mean.hi), lo = Vector<S>(repeating: mean.lo), r = Vector<S>(repeating: invstd)
        var s1 = Vector<S>(), s2 = Vector<S>()
        let products = columns + stride
        var i = 0
        while i + 8 <= count {
            let d = (load(x, i) - hi) - lo, g = load(dy, i)
            store(load(columns, i) + g, columns, i)
            store(load(products, i) + g * (d * r), products, i)
            let wg = weight.map { load($0, i) * g } ?? g
            s1 += wg
            s2 += wg * d
            i += 8
        }
        var t1 = Double(s1.sum()), t2 = Double(s2.sum())
        while i < count {
            let d = (x[i] - mean.hi) - mean.lo, g = dy[i]
            columns[i] += g
            products[i] += g * (d * invstd)
            let wg = weight.map { $0[i] * g } ?? g
            t1 += Double(wg)
            t2 += Double(wg * d)
            i += 1
        }
        return (t1, t2)
    }

    /// ``gradientSums(_:_:_:mean:weight:)`` over any number of elements, block by block.
    static func gradientSumsOfRange<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ count: Int, mean: SplitMean<S>
    ) -> (Double, Double) {
        var total = (0.0, 0.0), start = 0
        while start < count {
            let n = min(blockLength, count - start)
            let sums = gradientSums(x + start, dy + start, n, mean: mean)
            total = (total.0 + sums.0, total.1 + sums.1)
            start += n
        }
        return total
    }

    /// dx = k1·dy − k2·((x − μ_hi) − μ_lo) + k3 over `count` contiguous elements.
    @inline(__always)
    static func inputGradientRange<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, _ count: Int,
        mean: SplitMean<S>, _ k: GradientCoefficients<S>
    ) {
        // −k2·((x − hi) − lo) + k3 = −k2·(x − hi) + (k3 + k2·lo).
        let shifted = k.k3 + k.k2 * mean.lo
        let hi = Vector<S>(repeating: mean.hi)
        let k1 = Vector<S>(repeating: k.k1), k2 = Vector<S>(repeating: k.k2), k3 = Vector<S>(repeating: shifted)
        var i = 0
        while i + 8 <= count {
            store(k1 * load(dy, i) - k2 * (load(x, i) - hi) + k3, dx, i)
            i += 8
        }
        while i < count {
            dx[i] = k.k1 * dy[i] - k.k2 * (x[i] - mean.hi) + shifted
            i += 1
        }
    }

    /// dx_i = k1·w_i·dy_i − k2·((x_i − μ_hi) − μ_lo) + k3 over one row whose weight varies per
    /// element.
    @inline(__always)
    static func inputGradientRow<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, _ count: Int,
        mean: SplitMean<S>, _ k: GradientCoefficients<S>, weight: UnsafePointer<S>?
    ) {
        guard let weight else { return inputGradientRange(x, dy, dx, count, mean: mean, k) }
        let shifted = k.k3 + k.k2 * mean.lo
        let hi = Vector<S>(repeating: mean.hi)
        let k1 = Vector<S>(repeating: k.k1), k2 = Vector<S>(repeating: k.k2), k3 = Vector<S>(repeating: shifted)
        var i = 0
        while i + 8 <= count {
            store(k1 * load(weight, i) * load(dy, i) - k2 * (load(x, i) - hi) + k3, dx, i)
            i += 8
        }
        while i < count {
            dx[i] = k.k1 * weight[i] * dy[i] - k.k2 * (x[i] - mean.hi) + shifted
            i += 1
        }
    }
}

/// A mean split into the scalar type as hi + lo, so that (x − hi) − lo keeps the digits of
/// x − μ for a Float x close to a large μ (x − hi is exact there).
struct SplitMean<S: NormScalar> {
    let hi: S
    let lo: S

    @inline(__always)
    init(_ mean: Double) {
        hi = S(mean)
        lo = S(mean - Double(hi))
    }
}

/// dx = k1·dy − k2·(x − μ) + k3: the input gradient of one statistic group and channel, with
/// the group's statistics folded into three numbers (see ``GradientMode/coefficients(invstd:gamma:sumG:sumGD:count:)``).
struct GradientCoefficients<S: NormScalar> {
    var k1: S
    var k2: S
    var k3: S
}

// MARK: Columns
extension Kernels {
    /// s1[c] += Σ_r (x[r, c] − k[c]) and s2[c] += Σ_r (x[r, c] − k[c])² over `rows` rows of
    /// `columns` contiguous values.
    static func columnShiftedSums<S: NormScalar>(
        _ x: UnsafePointer<S>, rows: Int, columns: Int, shift k: UnsafePointer<S>,
        _ s1: UnsafeMutablePointer<S>, _ s2: UnsafeMutablePointer<S>
    ) {
        // Row by row, so that memory streams in order; the sums stay in L1. (Strips of columns
        // walking down L1 blocks with their sums in registers take fewer instructions, but
        // measured 20–50% slower on tensors beyond L2: their strided loads stall.)
        for r in 0..<rows {
            let row = x + r * columns
            var c = 0
            while c + 8 <= columns {
                let d = load(row, c) - load(k, c)
                store(load(s1, c) + d, s1, c)
                store(load(s2, c) + d * d, s2, c)
                c += 8
            }
            while c < columns {
                let d = row[c] - k[c]
                s1[c] += d
                s2[c] += d * d
                c += 1
            }
        }
    }

    /// Adds `rows` rows of `columns` values to the per-column `moments`, in blocks of rows summed
    /// from a per-column shift near the mean, as ``accumulateRange(_:_:into:)`` does for a range.
    /// `scratch` holds 3·columns scalars.
    static func accumulateColumns<S: NormScalar>(
        _ x: UnsafePointer<S>, rows: Int, columns: Int, into moments: UnsafeMutablePointer<GroupMoments>,
        scratch: UnsafeMutablePointer<S>
    ) {
        let shift = scratch, s1 = scratch + columns, s2 = scratch + 2 * columns
        let blockRows = 64  // at most 64 values per lane in the scalar type
        var start = 0
        while start < rows {
            let n = min(blockRows, rows - start), block = x + start * columns
            for c in 0..<columns { shift[c] = moments[c].count > 0 ? S(moments[c].mean) : block[c] }
            for pass in 0..<2 {
                s1.update(repeating: 0, count: columns)
                s2.update(repeating: 0, count: columns)
                columnShiftedSums(block, rows: n, columns: columns, shift: shift, s1, s2)
                var cancelled = false
                if pass == 0 {
                    for c in 0..<columns where needsNewShift(Double(s1[c]), Double(s2[c]), count: n) {
                        shift[c] = S(Double(shift[c]) + Double(s1[c]) / Double(n))
                        cancelled = true
                    }
                }
                if !cancelled { break }
            }
            for c in 0..<columns {
                let t1 = Double(s1[c]), t2 = Double(s2[c])
                moments[c].merge(count: Double(n), mean: Double(shift[c]) + t1 / Double(n), m2: blockM2(t1, t2, count: n))
            }
            start += n
        }
    }

    /// y[r, c] = (x[r, c] − hi[c])·a[c] + b[c], with μ's low part already folded into b (see
    /// ``ColumnCoefficients/setAffine(_:mean:scale:offset:)``).
    static func columnAffine<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, rows: Int, columns: Int, _ k: ColumnCoefficients<S>
    ) {
        // Row by row, so that memory streams in order; the coefficients stay in L1.
        for r in 0..<rows {
            let xr = x + r * columns, yr = y + r * columns
            var c = 0
            while c + 8 <= columns {
                store((load(xr, c) - load(k.hi, c)) * load(k.a, c) + load(k.b, c), yr, c)
                c += 8
            }
            while c < columns {
                yr[c] = (xr[c] - k.hi[c]) * k.a[c] + k.b[c]
                c += 1
            }
        }
    }

    /// Per-column Σ dy and Σ dy·(x − μ) over `rows` rows, summed in blocks of rows and added to
    /// `sumDy` and `sumDyD` in `Double`. `scratch` holds 2·columns scalars.
    static func accumulateColumnGradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, rows: Int, columns: Int, _ k: ColumnCoefficients<S>,
        sumDy: UnsafeMutablePointer<Double>, sumDyD: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<S>
    ) {
        let s1 = scratch, s2 = scratch + columns
        let blockRows = 64  // at most 64 values per lane in the scalar type
        var start = 0
        while start < rows {
            let n = min(blockRows, rows - start)
            s1.update(repeating: 0, count: columns)
            s2.update(repeating: 0, count: columns)
            for r in start..<start + n {
                let xr = x + r * columns, gr = dy + r * columns
                var c = 0
                while c + 8 <= columns {
                    let g = load(gr, c)
                    store(load(s1, c) + g, s1, c)
                    store(load(s2, c) + g * (load(xr, c) - load(k.hi, c)), s2, c)
                    c += 8
                }
                while c < columns {
                    s1[c] += gr[c]
                    s2[c] += gr[c] * (xr[c] - k.hi[c])
                    c += 1
                }
            }
            for c in 0..<columns {
                sumDy[c] += Double(s1[c])
                // Σdy·(x − μ) = Σdy·(x − hi) − lo·Σdy.
                sumDyD[c] += Double(s2[c]) - Double(k.lo[c]) * Double(s1[c])
            }
            start += n
        }
    }

    /// dx[r, c] = k1[c]·dy[r, c] − k2[c]·(x[r, c] − hi[c]) + k3[c], with k1, k2, k3 in `a`, `b`,
    /// `c` of `k` (μ's low part folded into k3 by ``ColumnCoefficients/setGradient(_:mean:_:)``).
    static func columnInputGradient<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, rows: Int, columns: Int,
        _ k: ColumnCoefficients<S>
    ) {
        // Row by row, so that memory streams in order; the coefficients stay in L1.
        for r in 0..<rows {
            let offset = r * columns
            let xr = x + offset, gr = dy + offset, dr = dx + offset
            var c = 0
            while c + 8 <= columns {
                store(load(k.a, c) * load(gr, c) - load(k.b, c) * (load(xr, c) - load(k.hi, c)) + load(k.c, c), dr, c)
                c += 8
            }
            while c < columns {
                dr[c] = k.a[c] * gr[c] - k.b[c] * (xr[c] - k.hi[c]) + k.c[c]
                c += 1
            }
        }
    }
}

/// Per-column coefficients in one allocation of 5·columns scalars: the split mean (hi, lo), and
/// either the affine scale and offset (a, b) of the forward pass, or the gradient coefficients
/// k1, k2, k3 (a, b, c) of the backward pass. The low part of the mean is folded into b (forward)
/// or c (backward), so the loops subtract only hi, which is exact near the mean.
struct ColumnCoefficients<S: NormScalar> {
    let storage: UnsafeMutablePointer<S>
    let columns: Int

    init(columns: Int) {
        self.columns = columns
        storage = .allocate(capacity: max(5 * columns, 1))
        storage.initialize(repeating: 0, count: max(5 * columns, 1))
    }

    func deallocate() { storage.deallocate() }

    var hi: UnsafeMutablePointer<S> { storage }
    var lo: UnsafeMutablePointer<S> { storage + columns }
    var a: UnsafeMutablePointer<S> { storage + 2 * columns }
    var b: UnsafeMutablePointer<S> { storage + 3 * columns }
    var c: UnsafeMutablePointer<S> { storage + 4 * columns }

    /// Sets column `column`'s split mean only (for the backward sums).
    @inline(__always)
    func setMean(_ column: Int, _ mean: Double) {
        let split = SplitMean<S>(mean)
        hi[column] = split.hi
        lo[column] = split.lo
    }

    /// y = (x − μ)·scale + offset for column `column`.
    @inline(__always)
    func setAffine(_ column: Int, mean: Double, scale: Double, offset: Double) {
        setMean(column, mean)
        a[column] = S(scale)
        b[column] = S(offset - Double(lo[column]) * scale)
    }

    /// dx = k1·dy − k2·(x − μ) + k3 for column `column`.
    @inline(__always)
    func setGradient(_ column: Int, mean: Double, _ k: (Double, Double, Double)) {
        setMean(column, mean)
        a[column] = S(k.0)
        b[column] = S(k.1)
        c[column] = S(k.2 + k.1 * Double(lo[column]))
    }
}
