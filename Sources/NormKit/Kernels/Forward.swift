/// The forward kernels: statistics, and normalization with an affine map, for every geometry.
///
/// Where a statistic's elements can stay in cache between the two steps they are fused, one
/// task per statistic group: a BatchNorm channel in NCHW (its N runs), a GroupNorm, InstanceNorm
/// or LayerNorm group in row-major layout (one contiguous range), and a channels-last sample for
/// GroupNorm and InstanceNorm. BatchNorm over channels-last data (or inner size 1) needs the
/// whole tensor before any channel is known, so it sweeps twice: column statistics over row
/// chunks in parallel, merged with Chan's formula, then the affine map.
extension Kernels {
    /// Batch statistics and the normalized output in one call.
    /// Returns the moments and, per statistic, 1/√(M2/n + eps).
    static func normalizeWithBatchStatistics<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, geometry g: NormalizationGeometry, centered: Bool,
        weight: UnsafePointer<S.ComputeScalar>?, bias: UnsafePointer<S.ComputeScalar>?, eps: Double
    ) -> (moments: Moments, invstd: [Double]) {
        let statistics = g.statisticCount
        var mean = [Double](repeating: 0, count: statistics), m2 = mean, invstd = mean
        let count = g.elementsPerStatistic
        let stream = NativeLoops.streams(bytes: 2 * g.elementCount * MemoryLayout<S>.stride)
        let groupBytes = count * MemoryLayout<S>.stride
        if case .perChannel = g.grouping, !g.channelRunsAreContiguous {
            let moments = columnMoments(x, geometry: g)
            invstd = moments.inverseStandardDeviation(eps: eps)
            normalize(x, y, geometry: g, mean: moments.mean, invstd: invstd, weight: weight, bias: bias, stream: stream)
            return (moments, invstd)
        }
        mean.withUnsafeMutableBufferPointer { meanOut in
            m2.withUnsafeMutableBufferPointer { m2Out in
                invstd.withUnsafeMutableBufferPointer { invstdOut in
                    let out = UncheckedSendable((meanOut, m2Out, invstdOut))
                    let record = { (index: Int, moments: GroupMoments) -> (Double, Double) in
                        let variance = count > 0 ? moments.m2 / Double(count) : 0
                        let r = 1 / (variance + eps).squareRoot()
                        out.value.0[index] = moments.mean
                        out.value.1[index] = moments.m2
                        out.value.2[index] = r
                        return (moments.mean, r)
                    }
                    switch (g.grouping, g.layout) {
                    case (.perChannel, _):
                        Parallelism.forEachChunk(taskCount: g.channels, elements: g.elementCount) { channels in
                            for c in channels {
                                let (mu, r) = record(c, channelMoments(x, geometry: g, channel: c))
                                let split = SplitMean<S.ComputeScalar>(mu)
                                let offset = g.offset(sample: 0, channel: c, position: 0)
                                affineRuns(x + offset, y + offset, runs: g.outer, length: g.inner, stride: g.channels * g.inner,
                                           mean: split, scale: S.ComputeScalar(r * Double(weight?[c] ?? 1)), offset: bias?[c] ?? 0,
                                           stream: stream,
                                           next: nextGroup(x + offset, distance: g.inner, exists: c + 1 < channels.upperBound, stream: stream,
                                                            groupBytes: groupBytes))
                            }
                        }
                    case (.perSample, _) where g.inner == 1 && g.groupsPerSample == 1:
                        // LayerNorm's and RMSNorm's rows, row after row in C, streamed and fetched
                        // ahead as ``normalizeGroup`` would. Against the rows in Swift, builds
                        // alternating: in cache 64×768 1.22× (RMSNorm 1.20×), bfloat16 8192×1024
                        // 1.20× on two threads and 1.35× on one (RMSNorm 1.17×); streamed (see
                        // ``rowsForwardSetting(_:rowBytes:elementBytes:parallel:)``).
                        let rowsSetting = rowsForwardSetting(stream, rowBytes: groupBytes, elementBytes: MemoryLayout<S>.stride,
                                                             parallel: splitsRows(g))
                        Parallelism.forEachChunk(taskCount: g.outer, elements: g.elementCount) { rows in
                            let first = rows.lowerBound
                            NativeLoops.rowsForward(x + first * count, y + first * count, rows: rows.count, length: count,
                                                    weight: weight, bias: bias, eps: eps, centered: centered,
                                                    stream: rowsSetting.streamed, ahead: rowsSetting.ahead,
                                                    mean: out.value.0.baseAddress! + first, m2: out.value.1.baseAddress! + first,
                                                    invstd: out.value.2.baseAddress! + first)
                        }
                    case (.perSample, .channelsFirst) where g.inner > 1 && centered
                        && !prefetchesNextGroup(stream, groupBytes: groupBytes):
                        // GroupNorm's and InstanceNorm's groups, unprefetched, group after group
                        // in C, as LayerNorm's rows above: InstanceNorm2d 32×16×8×8 forward 1.43×,
                        // GroupNorm(4) 32×16×8×8 1.54×, GroupNorm(32) 4×64×16×16 1.32×.
                        Parallelism.forEachChunk(taskCount: g.outer * g.groupsPerSample, elements: g.elementCount) { tasks in
                            let first = tasks.lowerBound, offset = first * count
                            NativeLoops.groupsForward(x + offset, y + offset, first: first, groups: tasks.count,
                                                      groupsPerSample: g.groupsPerSample, width: g.channelsPerGroup, inner: g.inner,
                                                      weight: weight, bias: bias, eps: eps, stream: stream,
                                                      mean: out.value.0.baseAddress! + first, m2: out.value.1.baseAddress! + first,
                                                      invstd: out.value.2.baseAddress! + first)
                        }
                    case (.perSample, _) where g.layout == .channelsFirst || g.inner == 1:
                        let groups = g.groupsPerSample, width = g.channelsPerGroup, parallel = splitsRows(g)
                        Parallelism.forEachChunk(taskCount: g.outer * groups, elements: g.elementCount) { tasks in
                            var previous: RowAffine<S.ComputeScalar>?
                            for task in tasks {
                                let n = task / groups, first = (task % groups) * width
                                let base = g.offset(sample: n, channel: first, position: 0)
                                var moments = GroupMoments()
                                if centered {
                                    accumulateRange(x + base, count, into: &moments)
                                } else {
                                    moments = GroupMoments(count: Double(count), mean: 0, m2: sumOfSquares(x + base, count))
                                }
                                let (mu, r) = record(task, moments)
                                normalizeGroup(x + base, y + base, geometry: g, firstChannel: first, mean: mu, invstd: r,
                                               weight: weight, bias: bias, stream: stream, parallel: parallel,
                                               tasksAfter: tasks.upperBound - task - 1, previousRow: &previous)
                            }
                        }
                    case (.perSample, _):
                        precondition(centered, "uncentered statistics are only defined for trailing dimensions")
                        let sampleBytes = g.inner * g.channels * MemoryLayout<S>.stride  // read again after its moments
                        let streaming = ColumnStreaming(stream, bytes: 2 * g.elementCount * MemoryLayout<S>.stride)
                        let lastRowsFirst = NativeLoops.revisitsLastRowsFirst(bytes: sampleBytes)
                        let prefetches = prefetchesNextSample(bytes: 2 * g.elementCount * MemoryLayout<S>.stride,
                                                              sampleBytes: sampleBytes)
                        Parallelism.forEachChunk(taskCount: g.outer, elements: g.elementCount) { samples in
                            let scratch = SampleScratch<S.ComputeScalar>(channels: g.channels)
                            defer { scratch.deallocate() }
                            for n in samples {
                                let base = n * g.inner * g.channels
                                let groupMoments = channelsLastSampleMoments(x + base, geometry: g, scratch: scratch)
                                for (group, moments) in groupMoments.enumerated() {
                                    let (mu, r) = record(n * groupMoments.count + group, moments)
                                    scratch.setGroup(group, width: g.channelsPerGroup, mean: mu, invstd: r, weight: weight, bias: bias)
                                }
                                columnAffine(x + base, y + base, rows: g.inner, columns: g.channels, scratch.coefficients,
                                             stream: streaming, lastRowsFirst: lastRowsFirst,
                                             next: prefetches && n + 1 < samples.upperBound ? x + base + g.inner * g.channels : nil)
                            }
                        }
                    }
                }
            }
        }
        return (Moments(count: count, mean: mean, m2: m2), invstd)
    }

    /// The moments of every statistic group, without normalizing (SyncBatchNorm's local step).
    static func moments<S: NormScalar>(_ x: UnsafePointer<S>, geometry g: NormalizationGeometry) -> Moments {
        if case .perChannel = g.grouping, !g.channelRunsAreContiguous { return columnMoments(x, geometry: g) }
        precondition(g.grouping == .perChannel, "moments(_:geometry:) serves per-channel statistics")
        var mean = [Double](repeating: 0, count: g.channels), m2 = mean
        mean.withUnsafeMutableBufferPointer { meanOut in
            m2.withUnsafeMutableBufferPointer { m2Out in
                let out = UncheckedSendable((meanOut, m2Out))
                Parallelism.forEachChunk(taskCount: g.channels, elements: g.elementCount) { channels in
                    for c in channels {
                        let moments = channelMoments(x, geometry: g, channel: c)
                        out.value.0[c] = moments.mean
                        out.value.1[c] = moments.m2
                    }
                }
            }
        }
        return Moments(count: g.elementsPerStatistic, mean: mean, m2: m2)
    }

    /// The moments of channel `c` of a row-major per-channel geometry: its N runs of `inner`.
    @inline(__always)
    static func channelMoments<S: NormScalar>(_ x: UnsafePointer<S>, geometry g: NormalizationGeometry, channel c: Int) -> GroupMoments {
        var moments = GroupMoments()
        accumulateRuns(x + g.offset(sample: 0, channel: c, position: 0), runs: g.outer, length: g.inner,
                       stride: g.channels * g.inner, into: &moments)
        return moments
    }

    /// Per-channel moments of data stored as rows of `channels` values (channels-last, or inner
    /// size 1): each chunk of rows sums its own in C (``NativeLoops/columnMoments(_:rows:columns:scratch:mean:m2:)``),
    /// merged in chunk order.
    static func columnMoments<S: NormScalar>(_ x: UnsafePointer<S>, geometry g: NormalizationGeometry) -> Moments {
        let rows = g.outer * g.inner, columns = g.channels
        let empty = Moments(count: 0, mean: [Double](repeating: 0, count: columns), m2: [Double](repeating: 0, count: columns))
        let partials = Parallelism.mapChunks(taskCount: rows, elements: g.elementCount) { chunk -> Moments in
            var partial = empty
            partial.count = chunk.count
            let scratch = UnsafeMutablePointer<S.ComputeScalar>.allocate(capacity: 3 * columns)
            defer { scratch.deallocate() }
            NativeLoops.columnMoments(x + chunk.lowerBound * columns, rows: chunk.count, columns: columns, scratch: scratch,
                                      mean: &partial.mean, m2: &partial.m2)
            return partial
        }
        return partials.reduce(empty, Moments.merged)
    }

    /// Moments of each group of one channels-last sample (`inner` rows of `channels` values): a
    /// group's channels are adjacent columns, summed from one shift per group; one channel a
    /// group (InstanceNorm) sums in C, as ``columnMoments(_:geometry:)``.
    static func channelsLastSampleMoments<S: NormScalar>(
        _ x: UnsafePointer<S>, geometry g: NormalizationGeometry, scratch: SampleScratch<S.ComputeScalar>
    ) -> [GroupMoments] {
        if g.channelsPerGroup == 1 {
            let mean = scratch.doubles, m2 = scratch.doubles + g.channels
            NativeLoops.columnMoments(x, rows: g.inner, columns: g.channels, scratch: scratch.sums, mean: mean, m2: m2)
            return (0..<g.channels).map { GroupMoments(count: Double(g.inner), mean: mean[$0], m2: m2[$0]) }
        }
        var moments = [GroupMoments](repeating: GroupMoments(), count: g.groupsPerSample)
        moments.withUnsafeMutableBufferPointer { moments in
            accumulateColumns(x, rows: g.inner, columns: g.channels, width: g.channelsPerGroup, into: moments.baseAddress!,
                              scratch: scratch.sums)
        }
        return moments
    }

    /// Normalizes one statistic group stored as a contiguous range (row-major layout): channel
    /// runs of `inner` elements with a per-channel affine map, or, with inner size 1, one row
    /// whose affine parameters vary per element. `tasksAfter`: how many of the caller's next
    /// tasks are the groups that follow this one (the next `elementsPerStatistic` elements and
    /// on), to prefetch. `parallel`: whether the caller's groups are split over threads
    /// (``splitsRows(_:)``). `previousRow`: the caller's previous row in this chunk (nil before
    /// its first), updated to this one.
    @inline(__always)
    static func normalizeGroup<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, geometry g: NormalizationGeometry, firstChannel: Int,
        mean: Double, invstd: Double, weight: UnsafePointer<S.ComputeScalar>?, bias: UnsafePointer<S.ComputeScalar>?, stream: Bool,
        parallel: Bool, tasksAfter: Int, previousRow: inout RowAffine<S.ComputeScalar>?
    ) {
        let split = SplitMean<S.ComputeScalar>(mean), width = g.channelsPerGroup, count = g.elementsPerStatistic
        let groupBytes = count * MemoryLayout<S>.stride, hasNext = tasksAfter > 0
        if g.inner == 1 {
            let row = RowAffine(mean: split, invstd: S.ComputeScalar(invstd))
            // The same rule as the rows in C: the row fetched is `ahead` rows on.
            let (streamed, ahead) = rowsForwardSetting(stream, rowBytes: groupBytes, elementBytes: MemoryLayout<S>.stride,
                                                       parallel: parallel)
            affineRow(x, y, width, row, weight: weight.map { $0 + firstChannel }, bias: bias.map { $0 + firstChannel },
                      stream: streamed, tail: RowTail(streamed: streamed, geometry: g, previous: previousRow, hasNext: hasNext),
                      next: ahead > 0 && ahead <= tasksAfter ? x + ahead * count : nil)
            previousRow = row
            return
        }
        for i in 0..<width {
            let c = firstChannel + i
            affineRuns(x + i * g.inner, y + i * g.inner, length: g.inner, mean: split,
                       scale: S.ComputeScalar(invstd * Double(weight?[c] ?? 1)), offset: bias?[c] ?? 0, stream: stream,
                       next: nextGroup(x + i * g.inner, distance: count, exists: hasNext, stream: stream, groupBytes: groupBytes))
        }
    }

    /// y = (x − mean[s])·invstd[s]·γ[c] + β[c] with given statistics (running statistics in eval
    /// mode, or SyncBatchNorm's global ones). `y` may be `x` (in place).
    ///
    /// `stream` stores past the caches: callers decide with ``NativeLoops/streams(bytes:)`` when
    /// they read the input a second time (channels-last BatchNorm after its statistics sweep),
    /// and with ``NativeLoops/streamsSingleSweep(bytes:)`` for a single sweep; in place it does
    /// not stream (each line is in cache, just read, when it is written; not measured streamed).
    static func normalize<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, geometry g: NormalizationGeometry,
        mean: [Double], invstd: [Double], weight: UnsafePointer<S.ComputeScalar>?, bias: UnsafePointer<S.ComputeScalar>?,
        stream: Bool
    ) {
        let columnStreaming = ColumnStreaming(stream, bytes: 2 * g.elementCount * MemoryLayout<S>.stride)
        switch g.grouping {
        case .perChannel where g.channelRunsAreContiguous:
            // Each chunk of (sample, channel) runs goes to C in one call, with the channels'
            // coefficients set once. Against a call per run from Swift, builds alternating:
            // BatchNorm2d 64×32×7×7 eval 1.53× (9.9 → 6.4 µs), 8×16×8×8 1.13×; 32×64×56×56 1.01×.
            let k = ColumnCoefficients<S.ComputeScalar>(columns: g.channels)
            defer { k.deallocate() }
            for c in 0..<g.channels {
                k.setRunAffine(c, mean: mean[c], scale: S.ComputeScalar(invstd[c] * Double(weight?[c] ?? 1)), offset: bias?[c] ?? 0)
            }
            Parallelism.forEachChunk(taskCount: g.outer * g.channels, elements: g.elementCount) { tasks in
                let offset = tasks.lowerBound * g.inner
                NativeLoops.channelRunsAffine(x + offset, y + offset, first: tasks.lowerBound, runs: tasks.count,
                                              channels: g.channels, length: g.inner, k, stream: stream)
            }
        case .perChannel:
            let k = ColumnCoefficients<S.ComputeScalar>(columns: g.channels)
            defer { k.deallocate() }
            for c in 0..<g.channels {
                k.setAffine(c, mean: mean[c], scale: invstd[c] * Double(weight?[c] ?? 1), offset: Double(bias?[c] ?? 0))
            }
            let rows = g.outer * g.inner
            let beyondCache = columnAffineBeyondCache(columns: g.channels, bytes: g.elementCount * MemoryLayout<S>.stride,
                                                      streaming: columnStreaming, S.self)
            Parallelism.forEachChunk(taskCount: rows, elements: g.elementCount) { chunk in
                let offset = chunk.lowerBound * g.channels
                // In order: see the channels-last BatchNorm backward (Kernels.backward).
                columnAffine(x + offset, y + offset, rows: chunk.count, columns: g.channels, k, stream: columnStreaming,
                             lastRowsFirst: false, beyondCache: beyondCache, next: nil)
            }
        case .perSample where g.layout == .channelsFirst || g.inner == 1:
            let groups = g.groupsPerSample, width = g.channelsPerGroup, parallel = splitsRows(g)
            Parallelism.forEachChunk(taskCount: g.outer * groups, elements: g.elementCount) { tasks in
                var previous: RowAffine<S.ComputeScalar>?
                for task in tasks {
                    let first = (task % groups) * width
                    let base = g.offset(sample: task / groups, channel: first, position: 0)
                    normalizeGroup(x + base, y + base, geometry: g, firstChannel: first, mean: mean[task],
                                   invstd: invstd[task], weight: weight, bias: bias, stream: stream, parallel: parallel,
                                   tasksAfter: tasks.upperBound - task - 1, previousRow: &previous)
                }
            }
        case .perSample:
            Parallelism.forEachChunk(taskCount: g.outer, elements: g.elementCount) { samples in
                let scratch = SampleScratch<S.ComputeScalar>(channels: g.channels)
                defer { scratch.deallocate() }
                for n in samples {
                    for group in 0..<g.groupsPerSample {
                        let index = n * g.groupsPerSample + group
                        scratch.setGroup(group, width: g.channelsPerGroup, mean: mean[index], invstd: invstd[index],
                                         weight: weight, bias: bias)
                    }
                    let base = n * g.inner * g.channels
                    columnAffine(x + base, y + base, rows: g.inner, columns: g.channels, scratch.coefficients,
                                 stream: columnStreaming, lastRowsFirst: false, next: nil)  // a single sweep
                }
            }
        }
    }
}

/// Per-task scratch of the channels-last GroupNorm and InstanceNorm kernels: block sums and
/// per-channel coefficients, all O(C) and allocated once per chunk of samples.
struct SampleScratch<S: NormScalar> {
    let sums: UnsafeMutablePointer<S>
    let coefficients: ColumnCoefficients<S>
    /// 2·channels `Double`s: the backward pass's per-channel Σdy and Σdy·(x − μ), or the forward
    /// pass's per-channel mean and M2 when each channel is a statistic.
    let doubles: UnsafeMutablePointer<Double>

    init(channels: Int) {
        sums = .allocate(capacity: max(3 * channels, 1))
        doubles = .allocate(capacity: max(2 * channels, 1))
        coefficients = ColumnCoefficients(columns: channels)
    }

    func deallocate() {
        sums.deallocate()
        doubles.deallocate()
        coefficients.deallocate()
    }

    /// Sets the forward coefficients of every channel of `group`: its mean, a = invstd·γ[c], b = β[c].
    func setGroup(_ group: Int, width: Int, mean: Double, invstd: Double, weight: UnsafePointer<S>?, bias: UnsafePointer<S>?) {
        for c in group * width..<(group + 1) * width {
            coefficients.setAffine(c, mean: mean, scale: invstd * Double(weight?[c] ?? 1), offset: Double(bias?[c] ?? 0))
        }
    }
}
