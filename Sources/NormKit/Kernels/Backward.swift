/// The per-channel sums the backward pass needs, Σdy and Σdy·x̂ with x̂ = (x − mean)·invstd.
///
/// They are the weight and bias gradients (∂L/∂γ = Σdy·x̂, ∂L/∂β = Σdy), and, weighted by γ and
/// pooled per statistic group, the two correction terms of the input gradient. SyncBatchNorm
/// all-reduces exactly these two vectors.
struct BackwardSums: Sendable, Equatable {
    /// Σ dy for each channel.
    var sumGradOutput: [Double]
    /// Σ dy · x̂ for each channel.
    var sumGradOutputTimesNormalized: [Double]

    static func zeros(channels: Int) -> BackwardSums {
        BackwardSums(sumGradOutput: .init(repeating: 0, count: channels),
                     sumGradOutputTimesNormalized: .init(repeating: 0, count: channels))
    }

    mutating func add(_ other: BackwardSums) {
        for c in sumGradOutput.indices {
            sumGradOutput[c] += other.sumGradOutput[c]
            sumGradOutputTimesNormalized[c] += other.sumGradOutputTimesNormalized[c]
        }
    }
}

extension Optional where Wrapped == BackwardSums {
    /// Calls `body` with pointers to Σdy and Σdy·x̂ for a C loop to add to (both `nil` without
    /// sums), the arrays borrowed without a copy on write.
    mutating func withSumPointers(_ body: (UnsafeMutablePointer<Double>?, UnsafeMutablePointer<Double>?) -> Void) {
        guard var total = self else { return body(nil, nil) }
        self = nil  // `total` holds the arrays alone: no copy on write
        total.sumGradOutput.withUnsafeMutableBufferPointer { sumDy in
            total.sumGradOutputTimesNormalized.withUnsafeMutableBufferPointer { sumDyXhat in
                body(sumDy.baseAddress!, sumDyXhat.baseAddress!)
            }
        }
        self = total
    }
}

/// How the statistics of the forward pass depend on the input, which decides the input gradient.
///
/// For a statistic group of M elements with g = γ·dy and x̂ = (x − μ)·invstd:
/// - `.batch(centered: true)`: dx = invstd·(g − mean(g) − x̂·mean(g·x̂))  (BatchNorm, GroupNorm, …)
/// - `.batch(centered: false)`: dx = invstd·(g − x̂·mean(g·x̂))  (RMSNorm)
/// - `.constant`: dx = invstd·g  (running statistics in eval mode)
/// - `.globalSums`: as `.batch(centered: true)` per channel, with Σdy and Σdy·x̂ summed over every
///   rank of a SyncBatchNorm and M the global count.
enum GradientMode: Sendable {
    case batch(centered: Bool)
    case constant
    case globalSums(BackwardSums, count: Int)

    var usesBatchStatistics: Bool { if case .constant = self { false } else { true } }

    /// dx = k1·dy − k2·(x − μ) + k3 for one group and channel: k1 = invstd·γ,
    /// k2 = invstd²·Σg·x̂/M, k3 = −invstd·Σg/M (zero without centering or with constant statistics).
    func coefficients(invstd r: Double, gamma: Double, sumG: Double, sumGXhat: Double, count: Int) -> (Double, Double, Double) {
        guard usesBatchStatistics, count > 0 else { return (r * gamma, 0, 0) }
        let m = Double(count)
        if case .batch(centered: false) = self { return (r * gamma, r * r * sumGXhat / m, 0) }
        return (r * gamma, r * r * sumGXhat / m, -r * sumG / m)
    }
}

extension Kernels {
    /// The input gradient, and the per-channel sums Σdy and Σdy·x̂ when `channelSums` is true
    /// (they are also computed whenever the input gradient needs them).
    static func backward<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, geometry g: NormalizationGeometry,
        mean: [Double], invstd: [Double], weight: UnsafePointer<S.ComputeScalar>?, mode: GradientMode, channelSums: Bool
    ) -> BackwardSums? {
        let needSums = channelSums || (mode.usesBatchStatistics && !isGlobal(mode))
        let stream = NativeLoops.streams(bytes: 3 * g.elementCount * MemoryLayout<S>.stride)
        let groupBytes = g.elementsPerStatistic * MemoryLayout<S>.stride  // of x, and of dy
        let gamma = { (c: Int) in Double(weight?[c] ?? 1) }
        let partials: [BackwardSums?]
        switch g.grouping {
        case .perChannel where g.channelRunsAreContiguous:
            let count = g.elementsPerStatistic
            partials = Parallelism.mapChunks(taskCount: g.channels, elements: 2 * g.elementCount) { channels in
                var sums = needSums ? BackwardSums.zeros(channels: g.channels) : nil
                for c in channels {
                    let split = SplitMean<S.ComputeScalar>(mean[c]), r = invstd[c]
                    var t = (0.0, 0.0)
                    if needSums {
                        t = channelGradientSums(x, dy, geometry: g, channel: c, mean: split)
                        sums!.sumGradOutput[c] = t.0
                        sums!.sumGradOutputTimesNormalized[c] = r * t.1
                    }
                    let coefficients = channelCoefficients(c, mode: mode, invstd: r, gamma: gamma(c), local: (t.0, r * t.1), count: count)
                    let k = GradientCoefficients<S.ComputeScalar>(coefficients)
                    // Past the caches, the channel's runs go last first: the sums just read them
                    // in order, and the last ones are still in L2 (the first may not be: the next
                    // channel is being fetched meanwhile). Against in order, builds alternating:
                    // BatchNorm2d 32×64×56×56 1.06–1.15× on two threads, 1.18× on one, bfloat16
                    // 1.13×; 128×64×28×28 1.15×; 32×128×64×64 (1 MiB of x and dy a channel)
                    // 0.98–1.06×; BatchNorm3d 8×64×16×32×32 1.01–1.04×; Double 32×64×56×56
                    // (1.6 MiB a channel) 1.01×. In cache they stay in order (64×32×7×7
                    // 0.97–0.98× last first), and so does the forward pass's normalization,
                    // which reads x alone (0.96–1.02×).
                    let first = g.offset(sample: stream ? g.outer - 1 : 0, channel: c, position: 0)
                    let hasNext = c + 1 < channels.upperBound
                    inputGradientRuns(x + first, dy + first, dx + first, runs: g.outer, length: g.inner,
                                      stride: (stream ? -1 : 1) * g.channels * g.inner, mean: split, k, stream: stream,
                                      next: nextGroups(x + first, dy + first, distance: g.inner, exists: hasNext, stream: stream,
                                                       groupBytes: groupBytes))
                }
                return sums
            }
        case .perChannel:
            let sums = needSums ? columnGradientSums(x, dy, geometry: g, mean: mean, invstd: invstd) : nil
            let k = ColumnCoefficients<S.ComputeScalar>(columns: g.channels)
            defer { k.deallocate() }
            for c in 0..<g.channels {
                let local = sums.map { ($0.sumGradOutput[c], $0.sumGradOutputTimesNormalized[c]) } ?? (0, 0)
                k.setGradient(c, mean: mean[c], channelCoefficients(c, mode: mode, invstd: invstd[c], gamma: gamma(c), local: local,
                                                                    count: g.elementsPerStatistic))
            }
            let rows = g.outer * g.inner
            let sweepBytes = 3 * g.elementCount * MemoryLayout<S>.stride
            let beyondCache = columnInputGradientBeyondCache(columns: g.channels, stream: stream, S.self)
            let streaming = ColumnStreaming(wideRows: beyondCache && MemoryLayout<S>.stride >= 4,
                                            shortRows: ColumnStreaming(stream, bytes: sweepBytes).shortRows)  // (below)
            Parallelism.forEachChunk(taskCount: rows, elements: 2 * g.elementCount) { chunk in
                let offset = chunk.lowerBound * g.channels
                // Rows of 1 KiB or more stream in the loops for calls past the caches (AVX2's on
                // an AVX-512 machine). Against the same loops unstreamed, builds alternating:
                // BatchNorm1d 4096×1024 1.11–1.40× on two threads, 1.19–1.20× on one; 16384×1024
                // 1.12×; 8192×512 1.06×; Double 4096×1024 1.05×; channels-last BatchNorm2d
                // 32×256×28×28 0.97–1.11×, 16×256×56×56 1.15×. AVX-512's loops streamed them
                // 0.71–1.00× as fast (BatchNorm1d 4096×1024 had measured 0.85× streamed before
                // AVX2's loops ran it). 16-bit rows, whose vectors fill half a line, stay
                // unstreamed (bfloat16 BatchNorm1d 8192×1024 0.97×, float16 channels-last
                // BatchNorm2d 32×256×28×28 0.98× streamed). Short rows stream too
                // (ColumnStreaming): channels-last BatchNorm2d 32×64×56×56 1.27×, 16×64×64×64
                // 1.18×, BatchNorm3d 8×64×16×32×32 1.21×. In order: last rows first measured
                // slower (32×64×56×56 channels-last 0.85–0.87× with blocks of 32 KiB and 256 KiB,
                // 0.88–0.93× on one thread; BatchNorm1d 4096×1024 0.99×): a chunk outgrows the
                // level-2 cache, and this machine's L3 kept too little of the first sweep to pay
                // for the broken prefetch streams.
                columnInputGradient(x + offset, dy + offset, dx + offset, rows: chunk.count, columns: g.channels, k,
                                    stream: streaming, lastRowsFirst: false, beyondCache: beyondCache)
            }
            partials = [sums]
        case .perSample where g.layout == .channelsFirst || g.inner == 1:
            let groups = g.groupsPerSample
            partials = Parallelism.mapChunks(taskCount: g.outer * groups, elements: 2 * g.elementCount) { tasks in
                var sums = channelSums ? BackwardSums.zeros(channels: g.channels) : nil
                let scratch = GroupScratch<S.ComputeScalar>(channels: g.inner == 1 && channelSums ? g.channels : 0)
                if g.inner == 1 {
                    rowsBackward(x, dy, dx, geometry: g, tasks: tasks, mean: mean, invstd: invstd, weight: weight, mode: mode,
                                 sums: &sums, scratch: scratch, stream: stream)
                } else if case .batch(centered: true) = mode, !prefetchesNextGroup(stream, groupBytes: groupBytes, inputs: 2) {
                    // Groups that are not prefetched, group after group in C, as their forward
                    // pass: InstanceNorm2d 32×16×8×8 backward 1.53×, GroupNorm(4) 32×16×8×8
                    // 1.44×, GroupNorm(32) 4×64×16×16 1.25×.
                    groupsBackward(x, dy, dx, geometry: g, tasks: tasks, mean: mean, invstd: invstd, weight: weight, sums: &sums,
                                   stream: stream)
                } else {
                    for task in tasks {
                        groupBackward(x, dy, dx, geometry: g, task: task, mean: mean[task], invstd: invstd[task], weight: weight,
                                      mode: mode, sums: &sums, stream: stream, hasNext: task + 1 < tasks.upperBound)
                    }
                }
                if sums != nil { scratch.flush(into: &sums!) }
                return sums
            }
        case .perSample:
            let streaming = ColumnStreaming(stream, bytes: 3 * g.elementCount * MemoryLayout<S>.stride)
            let sampleBytes = 2 * g.inner * g.channels * MemoryLayout<S>.stride  // of x and dy, read again
            let lastRowsFirst = NativeLoops.revisitsLastRowsFirst(bytes: sampleBytes)
            partials = Parallelism.mapChunks(taskCount: g.outer, elements: 2 * g.elementCount) { samples in
                var sums = channelSums ? BackwardSums.zeros(channels: g.channels) : nil
                let scratch = SampleScratch<S.ComputeScalar>(channels: g.channels)
                defer { scratch.deallocate() }
                for n in samples {
                    channelsLastSampleBackward(x, dy, dx, geometry: g, sample: n, mean: mean, invstd: invstd, weight: weight,
                                               mode: mode, sums: &sums, scratch: scratch, stream: streaming,
                                               lastRowsFirst: lastRowsFirst)
                }
                return sums
            }
        }
        guard channelSums else { return nil }
        var total = BackwardSums.zeros(channels: g.channels)
        for partial in partials { if let partial { total.add(partial) } }
        return total
    }

    static func isGlobal(_ mode: GradientMode) -> Bool { if case .globalSums = mode { true } else { false } }

    /// The gradient coefficients of per-channel statistics: from this call's sums, or from the
    /// global ones SyncBatchNorm passes.
    @inline(__always)
    static func channelCoefficients(
        _ c: Int, mode: GradientMode, invstd r: Double, gamma: Double, local: (Double, Double), count: Int
    ) -> (Double, Double, Double) {
        var sums = local, m = count
        if case let .globalSums(global, globalCount) = mode {
            sums = (global.sumGradOutput[c], global.sumGradOutputTimesNormalized[c])
            m = globalCount
        }
        return mode.coefficients(invstd: r, gamma: gamma, sumG: gamma * sums.0, sumGXhat: gamma * sums.1, count: m)
    }

    /// Per-channel Σdy and Σdy·x̂ of data stored as rows of `channels` values, over row chunks in
    /// parallel (SyncBatchNorm's local backward step, and BatchNorm's first backward sweep).
    static func columnGradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, geometry g: NormalizationGeometry, mean: [Double], invstd: [Double]
    ) -> BackwardSums {
        let rows = g.outer * g.inner, columns = g.channels
        let k = ColumnCoefficients<S.ComputeScalar>(columns: columns)
        defer { k.deallocate() }
        for c in 0..<columns { k.setMean(c, mean[c]) }
        let partials = Parallelism.mapChunks(taskCount: rows, elements: 2 * g.elementCount) { chunk -> [Double] in
            var sums = [Double](repeating: 0, count: 2 * columns)
            let scratch = UnsafeMutablePointer<S.ComputeScalar>.allocate(capacity: 2 * columns)
            defer { scratch.deallocate() }
            sums.withUnsafeMutableBufferPointer { sums in
                let offset = chunk.lowerBound * columns
                accumulateColumnGradientSums(x + offset, dy + offset, rows: chunk.count, columns: columns, k,
                                             sumDy: sums.baseAddress!, sumDyD: sums.baseAddress! + columns, scratch: scratch)
            }
            return sums
        }
        var total = BackwardSums.zeros(channels: columns)
        for partial in partials {
            for c in 0..<columns {
                total.sumGradOutput[c] += partial[c]
                total.sumGradOutputTimesNormalized[c] += invstd[c] * partial[columns + c]
            }
        }
        return total
    }

    /// Per-channel sums only, for any per-channel geometry (SyncBatchNorm's local backward step).
    static func channelGradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, geometry g: NormalizationGeometry, mean: [Double], invstd: [Double]
    ) -> BackwardSums {
        guard g.channelRunsAreContiguous else { return columnGradientSums(x, dy, geometry: g, mean: mean, invstd: invstd) }
        let partials = Parallelism.mapChunks(taskCount: g.channels, elements: 2 * g.elementCount) { channels in
            var sums = BackwardSums.zeros(channels: g.channels)
            for c in channels {
                let s = channelGradientSums(x, dy, geometry: g, channel: c, mean: SplitMean<S.ComputeScalar>(mean[c]))
                sums.sumGradOutput[c] = s.0
                sums.sumGradOutputTimesNormalized[c] = invstd[c] * s.1
            }
            return sums
        }
        var total = BackwardSums.zeros(channels: g.channels)
        for partial in partials { total.add(partial) }
        return total
    }

    /// Σdy and Σdy·(x − μ) of channel `c` of a row-major per-channel geometry, over its N runs.
    @inline(__always)
    static func channelGradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, geometry g: NormalizationGeometry, channel c: Int,
        mean: SplitMean<S.ComputeScalar>
    ) -> (Double, Double) {
        let offset = g.offset(sample: 0, channel: c, position: 0)
        return gradientSumsOfRuns(x + offset, dy + offset, runs: g.outer, length: g.inner, stride: g.channels * g.inner, mean: mean)
    }

    /// The backward pass of a chunk of rows (inner size 1: LayerNorm, RMSNorm, GroupNorm on
    /// `(N, C)`), each a statistic group or a row's share of one: a row's sums, then its input
    /// gradient while it is still in cache.
    ///
    /// Rows that keep weight and bias gradient sums (`scratch`) and that
    /// ``fusesRowBackward(_:rowBytes:_:)`` picks sweep each row's input gradient along with the
    /// next row's sums (``NativeLoops/inputGradientRowThenSums(_:_:_:_:hi:_:weight:stream:beyondCache:next:after:)``),
    /// and fetch the row after that into L2 meanwhile: the memory system then reads and writes
    /// at once, instead of waiting while a row is summed. (Fused but not fetching ahead,
    /// LayerNorm 8192×1024 measured 1.03–1.09× slower; fused in cache, 2048×1024, 1.08–1.13×.)
    ///
    /// Rows of one group with batch statistics (LayerNorm, RMSNorm) run this loop in C, the
    /// table's `rows_backward`; the loop here serves the others (GroupNorm on `(N, C)`).
    static func rowsBackward<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, geometry g: NormalizationGeometry,
        tasks: Range<Int>, mean: [Double], invstd: [Double], weight: UnsafePointer<S.ComputeScalar>?, mode: GradientMode,
        sums: inout BackwardSums?, scratch: GroupScratch<S.ComputeScalar>, stream: Bool
    ) {
        let groups = g.groupsPerSample, width = g.channelsPerGroup
        let rowBytes = width * MemoryLayout<S>.stride  // of x, and of dy
        let rowStream = streamsRowOutput(stream, rowBytes: rowBytes, elementBytes: MemoryLayout<S>.stride)
        let fuses = sums != nil && fusesRowBackward(stream, rowBytes: rowBytes, S.self)
        if groups == 1, case let .batch(centered) = mode {
            // LayerNorm's and RMSNorm's rows go to C whole (the table's rows_backward), as this
            // loop would run them, with the same results to the bit. Against it, builds
            // alternating, two threads: 64×768 1.04–1.06× (RMSNorm 1.05×), 8×300 1.05×, 8192×1024
            // 1.06×, 87381×384 1.05×, 8192×768 1.01×; one thread 87381×384 1.09×, 8192×1024 1.05×.
            let offset = tasks.lowerBound * width
            let fetch = prefetchesNextGroup(stream, groupBytes: rowBytes, inputs: 2, minimum: minimumFetchedBackwardRowBytes)
            mean.withUnsafeBufferPointer { mean in
                invstd.withUnsafeBufferPointer { invstd in
                    sums.withSumPointers { sumDy, sumDyXhat in
                        NativeLoops.rowsBackward(x + offset, dy + offset, dx + offset, rows: tasks.count, length: width, weight: weight,
                                                 mean: mean.baseAddress! + tasks.lowerBound, invstd: invstd.baseAddress! + tasks.lowerBound,
                                                 centered: centered, stream: rowStream, fetch: fetch, fuses: fuses,
                                                 beyondCache: rowStream, columns: sumDy.map { (scratch.columns, $0, sumDyXhat!) })
                    }
                }
            }
            return
        }
        var carried: (Double, Double)?
        for task in tasks {
            let first = (task % groups) * width, base = task * width
            let (xs, gs, ds) = (x + base, dy + base, dx + base)
            let split = SplitMean<S.ComputeScalar>(mean[task]), r = invstd[task]
            let w = weight.map { $0 + first }
            var sumG = 0.0, sumGD = 0.0
            if mode.usesBatchStatistics || sums != nil {
                if let carried {
                    (sumG, sumGD) = carried
                } else {
                    forEachBlock(ofRow: width) { start, n in
                        let s = rowGradientSums(xs + start, gs + start, n, mean: split, invstd: S.ComputeScalar(r),
                                                weight: w.map { $0 + start },
                                                columns: sums == nil ? nil : scratch.columns + first + start, stride: g.channels,
                                                beyondCache: rowStream)
                        sumG += s.0; sumGD += s.1
                    }
                }
                if sums != nil { scratch.rowDone(groups: groups, into: &sums!) }
            }
            let k = GradientCoefficients<S.ComputeScalar>(mode.coefficients(invstd: r, gamma: 1, sumG: sumG, sumGXhat: r * sumGD,
                                                                            count: width))
            let hasNext = task + 1 < tasks.upperBound
            guard fuses && hasNext else {
                inputGradientRow(xs, gs, ds, width, mean: split, k, weight: w, stream: rowStream,
                                 next: nextGroups(xs, gs, distance: width, exists: hasNext, stream: stream, groupBytes: rowBytes))
                carried = nil
                continue
            }
            let nextFirst = ((task + 1) % groups) * width
            let nextRow = RowAffine(mean: SplitMean<S.ComputeScalar>(mean[task + 1]), invstd: S.ComputeScalar(invstd[task + 1]))
            let after = nextGroups(xs + width, gs + width, distance: width, exists: task + 2 < tasks.upperBound, stream: stream,
                                   groupBytes: rowBytes)
            var next = (0.0, 0.0)
            forEachBlock(ofRow: width) { start, n in
                let s = NativeLoops.inputGradientRowThenSums(
                    xs + start, gs + start, ds + start, n, hi: split.hi, k.foldingLowPart(of: split), weight: w.map { $0 + start },
                    stream: rowStream, beyondCache: rowStream,
                    next: NextRowSums(x: xs + width + start, dy: gs + width + start, row: nextRow,
                                      weight: weight.map { $0 + nextFirst + start }, columns: scratch.columns + nextFirst + start,
                                      stride: g.channels),
                    after: after.map { ($0.x + start, $0.dy + start) })
                next.0 += s.0; next.1 += s.1
            }
            carried = next
        }
    }

    /// ``groupBackward(_:_:_:geometry:task:mean:invstd:weight:mode:sums:stream:hasNext:)`` with
    /// centered batch statistics, for a chunk of tasks in one call to C.
    static func groupsBackward<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, geometry g: NormalizationGeometry,
        tasks: Range<Int>, mean: [Double], invstd: [Double], weight: UnsafePointer<S.ComputeScalar>?, sums: inout BackwardSums?,
        stream: Bool
    ) {
        let offset = tasks.lowerBound * g.elementsPerStatistic
        sums.withSumPointers { sumDy, sumDyXhat in
            mean.withUnsafeBufferPointer { mean in
                invstd.withUnsafeBufferPointer { invstd in
                    NativeLoops.groupsBackward(x + offset, dy + offset, dx + offset, first: tasks.lowerBound, groups: tasks.count,
                                               groupsPerSample: g.groupsPerSample, width: g.channelsPerGroup, inner: g.inner,
                                               weight: weight, mean: mean.baseAddress! + tasks.lowerBound,
                                               invstd: invstd.baseAddress! + tasks.lowerBound, stream: stream, sumDy: sumDy,
                                               sumDyXhat: sumDyXhat)
                }
            }
        }
    }

    /// The backward pass of one statistic group stored as a contiguous range with inner size
    /// above 1: its sums, then its input gradient while the group is still in cache. `hasNext`:
    /// whether the next group is the caller's next task, to prefetch.
    @inline(__always)
    static func groupBackward<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, geometry g: NormalizationGeometry,
        task: Int, mean: Double, invstd r: Double, weight: UnsafePointer<S.ComputeScalar>?, mode: GradientMode,
        sums: inout BackwardSums?, stream: Bool, hasNext: Bool
    ) {
        let groups = g.groupsPerSample, width = g.channelsPerGroup, count = g.elementsPerStatistic
        let groupBytes = count * MemoryLayout<S>.stride  // of x, and of dy
        let first = (task % groups) * width
        let base = g.offset(sample: task / groups, channel: first, position: 0)
        let (xs, gs, ds) = (x + base, dy + base, dx + base)
        let split = SplitMean<S.ComputeScalar>(mean)
        var sumG = 0.0, sumGD = 0.0
        if mode.usesBatchStatistics || sums != nil {
            for i in 0..<width {
                let s = gradientSumsOfRuns(xs + i * g.inner, gs + i * g.inner, length: g.inner, mean: split)
                let gamma = Double(weight?[first + i] ?? 1)
                sumG += gamma * s.0; sumGD += gamma * s.1
                if sums != nil {
                    sums!.sumGradOutput[first + i] += s.0
                    sums!.sumGradOutputTimesNormalized[first + i] += r * s.1
                }
            }
        }
        for i in 0..<width {
            let k = mode.coefficients(invstd: r, gamma: Double(weight?[first + i] ?? 1), sumG: sumG, sumGXhat: r * sumGD, count: count)
            inputGradientRuns(xs + i * g.inner, gs + i * g.inner, ds + i * g.inner, length: g.inner, mean: split,
                              GradientCoefficients(k), stream: stream,
                              next: nextGroups(xs + i * g.inner, gs + i * g.inner, distance: count, exists: hasNext, stream: stream,
                                               groupBytes: groupBytes))
        }
    }

    /// The backward pass of one channels-last sample (GroupNorm, InstanceNorm): per-channel sums
    /// over its rows, pooled per group, then the input gradient of its rows, streamed as `stream`
    /// says (rows of 1 KiB or more: GroupNorm 16×256×32×32 channels-last backward 1.09×,
    /// InstanceNorm2d 8×256×64×64 1.19×, builds alternating, two threads) and visited last rows
    /// first when `lastRowsFirst` (``NativeLoops/revisitsLastRowsFirst(bytes:)``).
    static func channelsLastSampleBackward<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, geometry g: NormalizationGeometry,
        sample n: Int, mean: [Double], invstd: [Double], weight: UnsafePointer<S.ComputeScalar>?, mode: GradientMode,
        sums: inout BackwardSums?, scratch: SampleScratch<S.ComputeScalar>, stream: ColumnStreaming, lastRowsFirst: Bool
    ) {
        let groups = g.groupsPerSample, width = g.channelsPerGroup, columns = g.channels
        let base = n * g.inner * columns
        let k = scratch.coefficients
        for c in 0..<columns { k.setMean(c, mean[n * groups + c / width]) }
        let sumDy = scratch.doubles, sumDyD = scratch.doubles + columns
        sumDy.update(repeating: 0, count: 2 * columns)
        if mode.usesBatchStatistics || sums != nil {
            accumulateColumnGradientSums(x + base, dy + base, rows: g.inner, columns: columns, k, sumDy: sumDy, sumDyD: sumDyD,
                                         scratch: scratch.sums)
        }
        for group in 0..<groups {
            let index = n * groups + group, r = invstd[index]
            var sumG = 0.0, sumGD = 0.0
            for c in group * width..<(group + 1) * width {
                let gamma = Double(weight?[c] ?? 1)
                sumG += gamma * sumDy[c]; sumGD += gamma * sumDyD[c]
                if sums != nil {
                    sums!.sumGradOutput[c] += sumDy[c]
                    sums!.sumGradOutputTimesNormalized[c] += r * sumDyD[c]
                }
            }
            for c in group * width..<(group + 1) * width {
                k.setGradient(c, mean: mean[index], mode.coefficients(invstd: r, gamma: Double(weight?[c] ?? 1), sumG: sumG,
                                                                      sumGXhat: r * sumGD, count: g.elementsPerStatistic))
            }
        }
        columnInputGradient(x + base, dy + base, dx + base, rows: g.inner, columns: columns, k, stream: stream,
                            lastRowsFirst: lastRowsFirst)
    }
}

/// Per-chunk scratch of the row-major group backward with inner size 1 (LayerNorm, RMSNorm):
/// column sums Σdy and Σdy·x̂ in the scalar type, moved to `Double` every 32 rows.
final class GroupScratch<S: NormScalar> {
    /// Σdy per column, then Σdy·x̂ per column: 2·C scalars.
    let columns: UnsafeMutablePointer<S>
    let channels: Int
    private var pendingTasks = 0

    init(channels: Int) {
        self.channels = channels
        // On a cache line, as the rows are: the row loops read and write it with every vector.
        columns = UnsafeMutableRawPointer.allocate(byteCount: max(2 * channels, 1) * MemoryLayout<S>.stride,
                                                   alignment: TensorArrays.lineBytes)
            .bindMemory(to: S.self, capacity: max(2 * channels, 1))
        columns.initialize(repeating: 0, count: max(2 * channels, 1))
    }

    deinit { UnsafeMutableRawPointer(columns).deallocate() }

    /// Counts one finished group; after 32 rows' worth (32 · groups groups) moves the column
    /// sums into `sums`.
    func rowDone(groups: Int, into sums: inout BackwardSums) {
        pendingTasks += 1
        if pendingTasks >= 32 * groups { flush(into: &sums) }
    }

    func flush(into sums: inout BackwardSums) {
        guard pendingTasks > 0 else { return }
        // Through buffer pointers, so that the loops vectorize (indexing the arrays, they took 4%
        // of a bfloat16 LayerNorm 8192×1024 backward pass).
        let (columns, channels) = (columns, channels)
        sums.sumGradOutput.withUnsafeMutableBufferPointer { total in
            for c in 0..<channels { total[c] += Double(columns[c]) }
        }
        sums.sumGradOutputTimesNormalized.withUnsafeMutableBufferPointer { total in
            for c in 0..<channels { total[c] += Double(columns[channels + c]) }
        }
        columns.update(repeating: 0, count: 2 * channels)
        pendingTasks = 0
    }
}

