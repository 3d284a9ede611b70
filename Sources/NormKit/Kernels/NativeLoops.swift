internal import CNormKitKernels
import Foundation

/// The element loops, in C (`Sources/CNormKitKernels`), compiled once per instruction set and
/// chosen at run time: the library may pass no compiler flags, so Swift SIMD code would run as
/// SSE2 on every x86-64 CPU, while C functions can carry `target("avx2")` attributes. The
/// functions here pass pointers through, picking the `Float` or `Double` table with a type
/// test that the specialized callers fold away.
///
/// Notation, as in the C header: a *range* is `runs` runs of `length` contiguous elements,
/// `stride` apart; *columns* are `rows` rows of `columns` values with one coefficient per column.
enum NativeLoops {
    /// The instruction set the loops run in: chosen from the CPU, lowered by `NORMKIT_SIMD`.
    static var instructionSet: InstructionSet {
        InstructionSet(rawValue: Int(nk_kernels_active().pointee.isa.rawValue)) ?? .baseline
    }

    /// Runs `body` with the loops switched to `set` (or the best supported set below it), then
    /// switches back. For tests: every caller in the process sees the switch.
    static func withInstructionSet<R>(_ set: InstructionSet, _ body: () throws -> R) rethrows -> R {
        let previous = instructionSet
        _ = nk_isa_select(nk_isa(rawValue: UInt32(set.rawValue)))
        defer { _ = nk_isa_select(nk_isa(rawValue: UInt32(previous.rawValue))) }
        return try body()
    }

    /// The best set this CPU and OS support, ignoring `NORMKIT_SIMD`.
    static var supportedInstructionSet: InstructionSet {
        InstructionSet(rawValue: Int(nk_isa_supported().rawValue)) ?? .baseline
    }

    /// Whether a kernel that moves `bytes` (inputs plus output) stores its output past the
    /// caches: when they could not hold it anyway (at least the last-level cache's size, which
    /// `nk_last_level_cache_bytes` reads from sysfs on Linux, up to 32 MiB:
    /// ``maximumStreamingCacheBytes``). Streaming saves the read for
    /// ownership of every output line (a third of the traffic of y = f(x)), and keeps the input
    /// cached for a kernel's second read of it; below the cache's size the output stays cached
    /// for the next layer. Measured here beyond L3 (32 MiB), against the same build without
    /// (medians of 12 interleaved runs): BatchNorm2d 32×64×56×56 training forward 1.25×, backward
    /// 1.35× (1.12× on `Float16`), GroupNorm 16×256×32×32 channels-last forward 1.16×. A single
    /// sweep from x to y streams from a larger size (``streamsSingleSweep(bytes:)``). Rows
    /// (LayerNorm, RMSNorm) of 4 KiB or more stream too (``Kernels/streamsRows(_:rowBytes:)``),
    /// forward ones with their unaligned last lines handed to the next row (``RowTail``).
    static func streams(bytes: Int) -> Bool { bytes >= streamingThreshold }

    /// Whether a single sweep from x to y with given statistics (eval BatchNorm, SyncBatchNorm's
    /// normalization with global statistics) stores past the caches: from 1.25 times the
    /// last-level cache's size. Up to about its size x and y both stay cached for the next call
    /// with ordinary stores (BatchNorm1d 4096×1024 eval, x and y together exactly 32 MiB, 0.78×
    /// streamed); beyond, streaming measured faster, against ordinary stores in the same build
    /// (two threads, alternating processes): BatchNorm2d eval 32×64×56×56 (1.5× the cache)
    /// 1.11–1.13×, 64×128×28×28 1.44×, 128×256×14×14 1.38×, 32×128×64×64 1.28×, channels-last
    /// 32×256×56×56 1.30×, in Double 1.12×; BatchNorm3d 8×64×16×32×32 1.25×; BatchNorm1d
    /// 16384×1024 1.52×, 64×256×1024 1.12×. (An earlier build, without the next group fetched
    /// and before runs under 2,048 elements streamed, measured BatchNorm2d 32×64×56×56 eval
    /// 10–17% slower streamed.)
    static func streamsSingleSweep(bytes: Int) -> Bool { bytes >= streamingThreshold + streamingThreshold / 4 }

    private static let threshold = ProcessSetting(streamingCacheBytes)

    /// The size of the last-level cache one core can fill (sysfs on Linux).
    static let lastLevelCacheBytes: Int = nk_last_level_cache_bytes()

    /// The most cache the streaming threshold plans for, whatever the system reports: 32 MiB.
    ///
    /// A virtual machine on a large server reports the socket's whole L3 (260 MiB on an Intel
    /// Xeon, Emerald Rapids, VM of this project's kind), which it shares with every other tenant.
    /// Planned as this core's, nothing in the benchmark suite streamed there, and cases that
    /// beat PyTorch on the AMD machine (32 MiB of L3) fell under it. Measured on the Intel
    /// machine, the same build with the threshold alone changed, 32 MiB against 260 MiB (medians
    /// of 3 alternating processes, two threads): LayerNorm 8192×1024 forward 2.46×, BatchNorm2d
    /// 32×64×56×56 eval 1.63× and backward 2.01×, BatchNorm3d 8×64×16×32×32 eval 2.11×,
    /// GroupNorm(32) 32×256×32×32 forward 3.34×. On tensors between the candidates (LayerNorm
    /// 2048×1024 and 4096×1024 forward, BatchNorm2d 8×64×56×56 forward and 16×64×56×56 backward,
    /// GroupNorm 16×256×32×32 forward), 8 and 16 MiB ran within ±10% of 32 MiB, and 64 MiB
    /// 0.70–0.80× as fast. 32 MiB is also the L3 of the AMD machine where the other thresholds
    /// were measured, so nothing changes there. Where one process really has more L3 to itself
    /// (a whole server on bare metal, or a part with stacked cache), tensors between 32 MiB and
    /// that size now stream instead of staying cached for the next call; no such machine was
    /// at hand to measure what that costs.
    static let maximumStreamingCacheBytes = 32 << 20

    /// The cache size the streaming threshold starts from: ``lastLevelCacheBytes``, at most
    /// ``maximumStreamingCacheBytes``.
    static let streamingCacheBytes = min(lastLevelCacheBytes, maximumStreamingCacheBytes)

    /// Whether the CPU is an Intel one (cpuid's vendor), for the tuning measured to differ
    /// between the project's Intel and AMD machines (``Kernels/streamsShortHalfPrecisionRows``).
    static let cpuIsIntel = nk_cpu_is_intel() != 0

    /// The size of one core's level-1 data cache (sysfs on Linux; 32 KiB where unknown).
    static let levelOneDataCacheBytes: Int = nk_level1_data_cache_bytes()

    private static let levelTwo = ProcessSetting(nk_level2_cache_bytes(), normalized: { max(1, $0) })

    /// One core's level-2 cache size (sysfs on Linux; 1 MiB where unknown), or what a test sets
    /// with ``withLevelTwoCacheBytes(_:_:)``.
    static var levelTwoCacheBytes: Int {
        get { levelTwo.value }
        set { levelTwo.value = newValue }
    }

    /// Runs `body` with ``levelTwoCacheBytes`` set to `bytes`, then restores it (tests).
    static func withLevelTwoCacheBytes<R>(_ bytes: Int, _ body: () throws -> R) rethrows -> R {
        try levelTwo.with(bytes, body)
    }

    /// Whether a thread's second sweep over `bytes` it has just read (a channels-last GroupNorm
    /// or InstanceNorm sample, normalized after its moments, or its input gradient after its
    /// sums) visits the rows last first (``Kernels/forEachRowBlock(rows:rowBytes:lastFirst:_:)``):
    /// when they outgrow the level-2 cache by at most five times. Measured here (L2 1 MiB, two
    /// threads, alternating processes, against the same build in order): GroupNorm(32)
    /// channels-last backward 16×256×32×32 (2 MiB of x and dy per sample) 1.26×, 8×256×48×48
    /// (4.5 MiB) 1.05–1.09×, 8×256×64×64 (8 MiB) 0.95–1.01×, 16×256×16×16 (0.5 MiB) 0.99×;
    /// forward 16×256×48×48 (2.25 MiB of x) 1.15×, InstanceNorm2d 8×64×128×128 (4 MiB) 1.08×.
    /// Beyond, too little of the sample is left to pay for breaking the prefetchers' streams
    /// at each block; the level-3 cache did not pay either (see ``Kernels/backward``).
    static func revisitsLastRowsFirst(bytes: Int) -> Bool {
        let levelTwo = levelTwoCacheBytes
        return bytes > levelTwo && (bytes - 1) / 5 < levelTwo  // bytes ≤ 5·levelTwo, without overflow
    }

    /// ``streamingCacheBytes``, or what a test sets with ``withStreamingThreshold(_:_:)``.
    static var streamingThreshold: Int {
        get { threshold.value }
        set { threshold.value = newValue }
    }

    /// Runs `body` with streaming from `bytes` on (0 streams every long run), then restores it.
    static func withStreamingThreshold<R>(_ bytes: Int, _ body: () throws -> R) rethrows -> R {
        try threshold.with(bytes, body)
    }

    @inline(__always)
    private static func tables() -> UnsafePointer<nk_kernels> { nk_kernels_active() }

    /// The row backward loops, `column_affine` and `column_input_gradient`, of a call `beyondCache`
    /// (rows that stream past the caches; wide columns past L2 or L3,
    /// ``Kernels/columnAffineBeyondCache(columns:bytes:streaming:_:)``,
    /// ``Kernels/columnInputGradientBeyondCache(columns:stream:_:)``):
    /// the active table's `beyond_cache` (for Float and Double on an AVX-512 machine AVX2's loops,
    /// whose loads do not split across cache lines as AVX-512's 64-byte loads do at a Swift
    /// array's alignment; see nk_isa_avx512.c, and ``onCacheLines(rowBytes:_:)`` for the rows
    /// that keep AVX-512's), else its `in_cache`. Every set's row sums gather
    /// in the same lanes (`NK_ROW_ACCUMULATE` in kernels_body.h), so the choice never changes a
    /// result.
    @inline(__always)
    private static func loops(beyondCache: Bool) -> nk_type_loops {
        let t = tables()
        return beyondCache ? t.pointee.beyond_cache : t.pointee.in_cache
    }

    /// Whether each of `pointers` starts on a 64-byte cache line, and so does every row
    /// `rowBytes` after it: AVX-512's 64-byte loads and stores of such rows never span two lines.
    static func onCacheLines(rowBytes: Int, _ pointers: UnsafeRawPointer...) -> Bool {
        rowBytes % TensorArrays.lineBytes == 0 && pointers.allSatisfy { Int(bitPattern: $0) % TensorArrays.lineBytes == 0 }
    }

    /// The 16-bit table of `loops` for `S`.
    @inline(__always)
    private static func halfLoops<S: NormScalar>(_ loops: nk_type_loops, _: S.Type) -> nk_kernels_half {
        S.self == BFloat16.self ? loops.bf16.pointee : loops.f16.pointee
    }

    /// Half-precision values widened to `Float` (exact).
    static func floats<Half: HalfPrecisionScalar>(_ values: [Half]) -> [Float] {
        let conversions = tables().pointee.half
        let convert = Half.self == BFloat16.self ? conversions.bf16_to_f32! : conversions.f16_to_f32!
        return TensorArrays.make(count: values.count) { out, count in
            values.withUnsafeBufferPointer { input in
                input.withMemoryRebound(to: UInt16.self) { bits in convertInChunks(bits, into: out) { convert($0, $1, $2) } }
            }
            count = values.count
        }
    }

    /// `Float` values rounded to a half-precision type: to nearest, ties to even.
    static func halves<Half: HalfPrecisionScalar>(_ values: [Float], as _: Half.Type = Half.self) -> [Half] {
        let conversions = tables().pointee.half
        let convert = Half.self == BFloat16.self ? conversions.f32_to_bf16! : conversions.f32_to_f16!
        return TensorArrays.make(count: values.count) { out, count in
            out.withMemoryRebound(to: UInt16.self) { bits in
                values.withUnsafeBufferPointer { input in convertInChunks(input, into: bits) { convert($0, $1, $2) } }
            }
            count = values.count
        }
    }

    /// Converts `input` into `out` element by element with a C conversion, in parallel chunks.
    private static func convertInChunks<In, Out>(
        _ input: UnsafeBufferPointer<In>, into out: UnsafeMutableBufferPointer<Out>,
        _ convert: (UnsafePointer<In>, UnsafeMutablePointer<Out>, Int) -> Void
    ) {
        guard let base = input.baseAddress, let outBase = out.baseAddress else { return }
        let io = UncheckedSendable((base, outBase))
        Parallelism.forEachChunk(taskCount: input.count, elements: input.count) { range in
            convert(io.value.0 + range.lowerBound, io.value.1 + range.lowerBound, range.count)
        }
    }

    /// The element types the C tables serve; the specialized callers fold the test away.
    private enum Storage { case float, double, half }

    @inline(__always)
    private static func storage<S: NormScalar>(_: S.Type) -> Storage {
        if S.self == Float.self { return .float }
        if S.self == Double.self { return .double }
        assert(MemoryLayout<S>.size == 2 && S.ComputeScalar.self == Float.self, "NormKit's loops serve Float, Double and 16-bit types")
        return .half
    }

    /// The table of a 16-bit type: binary16's or bfloat16's.
    @inline(__always)
    private static func halfTable<S: NormScalar>(_ t: UnsafePointer<nk_kernels>, _: S.Type) -> nk_kernels_half {
        halfLoops(t.pointee.in_cache, S.self)
    }

    static func runsGradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, runs: Int, length: Int, stride: Int, hi: S.ComputeScalar,
        lo: S.ComputeScalar
    ) -> (Double, Double) {
        let t = tables()
        let sums = switch storage(S.self) {
        case .float: t.pointee.f32.runs_gradient_sums(x.as(), dy.as(), runs, length, stride, hi.as(), lo.as())
        case .double: t.pointee.f64.runs_gradient_sums(x.as(), dy.as(), runs, length, stride, hi.as(), lo.as())
        case .half: halfTable(t, S.self).runs_gradient_sums(x.as(), dy.as(), runs, length, stride, hi.as(), lo.as())
        }
        return (sums.first, sums.second)
    }

    static func sumOfSquares<S: NormScalar>(_ x: UnsafePointer<S>, _ count: Int) -> Double {
        let t = tables()
        return switch storage(S.self) {
        case .float: t.pointee.f32.sum_of_squares(x.as(), count)
        case .double: t.pointee.f64.sum_of_squares(x.as(), count)
        case .half: halfTable(t, S.self).sum_of_squares(x.as(), count)
        }
    }

    /// Adds runs to `moments` (the table's `runs_moments`, ``Kernels/accumulateRuns(_:runs:length:stride:into:)``).
    static func runsMoments<S: NormScalar>(
        _ x: UnsafePointer<S>, runs: Int, length: Int, stride: Int, into moments: inout GroupMoments
    ) {
        let t = tables()
        var m = nk_moments(count: moments.count, mean: moments.mean, m2: moments.m2)
        switch storage(S.self) {
        case .float: t.pointee.f32.runs_moments(x.as(), runs, length, stride, &m)
        case .double: t.pointee.f64.runs_moments(x.as(), runs, length, stride, &m)
        case .half: halfTable(t, S.self).runs_moments(x.as(), runs, length, stride, &m)
        }
        moments = GroupMoments(count: m.count, mean: m.mean, m2: m.m2)
    }

    /// LayerNorm's or RMSNorm's forward pass over `rows` contiguous rows of `length` values, each
    /// its own statistic (the table's `rows_forward`); each row's mean, M2 and
    /// 1/√(M2/length + eps) go to `mean`, `m2` and `invstd`. `stream` stores the rows past the
    /// caches, each row's unaligned last line written by the next row's call (``RowTail``), and
    /// each row fetches the row `ahead` rows on (0: none) while it writes.
    static func rowsForward<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, rows: Int, length: Int, weight: UnsafePointer<S.ComputeScalar>?,
        bias: UnsafePointer<S.ComputeScalar>?, eps: Double, centered: Bool, stream: Bool, ahead: Int,
        mean: UnsafeMutablePointer<Double>, m2: UnsafeMutablePointer<Double>, invstd: UnsafeMutablePointer<Double>
    ) {
        let t = tables(), c: Int32 = centered ? 1 : 0
        switch storage(S.self) {
        case .float:
            t.pointee.f32.rows_forward(x.as(), y.as(), rows, length, weight?.as(), bias?.as(), eps, c, stream.flag, ahead, mean, m2, invstd)
        case .double:
            t.pointee.f64.rows_forward(x.as(), y.as(), rows, length, weight?.as(), bias?.as(), eps, c, stream.flag, ahead, mean, m2, invstd)
        case .half:
            halfTable(t, S.self).rows_forward(x.as(), y.as(), rows, length, weight?.as(), bias?.as(), eps, c, stream.flag, ahead,
                                              mean, m2, invstd)
        }
    }

    /// LayerNorm's or RMSNorm's backward pass over `rows` contiguous rows of `length` values with
    /// batch statistics (the table's `rows_backward`): Kernels.rowsBackward for one group a row, in
    /// C. `mean` and `invstd` are the rows'; `columns` (2·length scalars), when given, gathers
    /// Σdy and Σdy·x̂ per column, moved into `sumDy` and `sumDyXhat` every 32 rows and at the end;
    /// `stream`, `fetch` and `fuses` as in that loop, whose row loops run from the table for calls
    /// past the caches when `beyondCache`.
    static func rowsBackward<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, rows: Int, length: Int,
        weight: UnsafePointer<S.ComputeScalar>?, mean: UnsafePointer<Double>, invstd: UnsafePointer<Double>, centered: Bool,
        stream: Bool, fetch: Bool, fuses: Bool, beyondCache: Bool,
        columns: (scratch: UnsafeMutablePointer<S.ComputeScalar>, sumDy: UnsafeMutablePointer<Double>,
                  sumDyXhat: UnsafeMutablePointer<Double>)?
    ) {
        let (sums, sumDy, sumDyXhat) = (columns?.scratch, columns?.sumDy, columns?.sumDyXhat)
        // Rows on cache lines keep the active table's own loops past the caches too: AVX-512's
        // ran LayerNorm 8192×1024 backward 1.43× and RMSNorm 1.41× faster than AVX2's on an Intel
        // Xeon (Emerald Rapids) VM, builds alternating, 5 processes each (8192×768 1.18×,
        // 87381×384 1.03×); on the AMD machine, in a
        // C harness, they had taken 2.1–2.5 ms against AVX2's 2.2–2.8 ms on aligned rows
        // (nk_isa_avx512.c). Rows off the lines (a caller's own arrays, rows of other lengths)
        // keep AVX2's.
        let onLines = onCacheLines(rowBytes: length * MemoryLayout<S>.stride, x, dy, dx)
            && (sums.map { onCacheLines(rowBytes: 0, $0) } ?? true)
        let t = tables(), rowLoops = loops(beyondCache: beyondCache && !onLines)
        let (c, s, f, u): (Int32, Int32, Int32, Int32) = (centered ? 1 : 0, stream.flag, fetch ? 1 : 0, fuses ? 1 : 0)
        switch storage(S.self) {
        case .float:
            t.pointee.f32.rows_backward(rowLoops.f32, x.as(), dy.as(), dx.as(), rows, length, weight?.as(), mean, invstd, c, s, f, u,
                                        sums?.as(), sumDy, sumDyXhat)
        case .double:
            t.pointee.f64.rows_backward(rowLoops.f64, x.as(), dy.as(), dx.as(), rows, length, weight?.as(), mean, invstd, c, s, f, u,
                                        sums?.as(), sumDy, sumDyXhat)
        case .half:
            let half = S.self == BFloat16.self ? rowLoops.bf16 : rowLoops.f16
            halfTable(t, S.self).rows_backward(half, x.as(), dy.as(), dx.as(), rows, length, weight?.as(), mean, invstd, c, s, f, u,
                                               sums?.as(), sumDy, sumDyXhat)
        }
    }

    /// GroupNorm's and InstanceNorm's forward pass over `groups` consecutive NCHW groups from
    /// group `first` (the table's `groups_forward`); each group's mean, M2 and 1/√(M2/n + eps) go
    /// to `mean`, `m2` and `invstd`.
    static func groupsForward<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, first: Int, groups: Int, groupsPerSample: Int, width: Int,
        inner: Int, weight: UnsafePointer<S.ComputeScalar>?, bias: UnsafePointer<S.ComputeScalar>?, eps: Double, stream: Bool,
        mean: UnsafeMutablePointer<Double>, m2: UnsafeMutablePointer<Double>, invstd: UnsafeMutablePointer<Double>
    ) {
        let t = tables()
        switch storage(S.self) {
        case .float:
            t.pointee.f32.groups_forward(x.as(), y.as(), first, groups, groupsPerSample, width, inner, weight?.as(), bias?.as(), eps,
                                         stream.flag, mean, m2, invstd)
        case .double:
            t.pointee.f64.groups_forward(x.as(), y.as(), first, groups, groupsPerSample, width, inner, weight?.as(), bias?.as(), eps,
                                         stream.flag, mean, m2, invstd)
        case .half:
            halfTable(t, S.self).groups_forward(x.as(), y.as(), first, groups, groupsPerSample, width, inner, weight?.as(),
                                                bias?.as(), eps, stream.flag, mean, m2, invstd)
        }
    }

    /// The backward pass, with batch statistics, of `groups` consecutive NCHW groups from group
    /// `first` (the table's `groups_backward`); `sumDy` and `sumDyXhat`, when not nil, get each
    /// channel's Σdy and Σdy·x̂ added.
    static func groupsBackward<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, first: Int, groups: Int,
        groupsPerSample: Int, width: Int, inner: Int, weight: UnsafePointer<S.ComputeScalar>?, mean: UnsafePointer<Double>,
        invstd: UnsafePointer<Double>, stream: Bool, sumDy: UnsafeMutablePointer<Double>?,
        sumDyXhat: UnsafeMutablePointer<Double>?
    ) {
        let t = tables()
        switch storage(S.self) {
        case .float:
            t.pointee.f32.groups_backward(x.as(), dy.as(), dx.as(), first, groups, groupsPerSample, width, inner, weight?.as(), mean,
                                          invstd, stream.flag, sumDy, sumDyXhat)
        case .double:
            t.pointee.f64.groups_backward(x.as(), dy.as(), dx.as(), first, groups, groupsPerSample, width, inner, weight?.as(), mean,
                                          invstd, stream.flag, sumDy, sumDyXhat)
        case .half:
            halfTable(t, S.self).groups_backward(x.as(), dy.as(), dx.as(), first, groups, groupsPerSample, width, inner,
                                                 weight?.as(), mean, invstd, stream.flag, sumDy, sumDyXhat)
        }
    }

    static func affineRange<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, runs: Int, length: Int, stride: Int, hi: S.ComputeScalar,
        a: S.ComputeScalar, b: S.ComputeScalar, stream: Bool, next: UnsafePointer<S>?
    ) {
        let t = tables()
        switch storage(S.self) {
        case .float: t.pointee.f32.affine_range(x.as(), y.as(), runs, length, stride, hi.as(), a.as(), b.as(), stream.flag, next?.as())
        case .double: t.pointee.f64.affine_range(x.as(), y.as(), runs, length, stride, hi.as(), a.as(), b.as(), stream.flag, next?.as())
        case .half: halfTable(t, S.self).affine_range(x.as(), y.as(), runs, length, stride, hi.as(), a.as(), b.as(), stream.flag, next?.as())
        }
    }

    static func channelRunsAffine<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, first: Int, runs: Int, channels: Int, length: Int,
        _ k: ColumnCoefficients<S.ComputeScalar>, stream: Bool
    ) {
        let t = tables()
        switch storage(S.self) {
        case .float:
            t.pointee.f32.channel_runs_affine(x.as(), y.as(), first, runs, channels, length, k.hi.as(), k.a.as(), k.b.as(), stream.flag)
        case .double:
            t.pointee.f64.channel_runs_affine(x.as(), y.as(), first, runs, channels, length, k.hi.as(), k.a.as(), k.b.as(), stream.flag)
        case .half:
            halfTable(t, S.self).channel_runs_affine(x.as(), y.as(), first, runs, channels, length, k.hi.as(), k.a.as(), k.b.as(),
                                                     stream.flag)
        }
    }

    static func affineRow<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, _ count: Int, hi: S.ComputeScalar, lo: S.ComputeScalar,
        invstd r: S.ComputeScalar, weight: UnsafePointer<S.ComputeScalar>?, bias: UnsafePointer<S.ComputeScalar>?,
        stream: Bool, tail: RowTail<S.ComputeScalar>, next: UnsafePointer<S>?
    ) {
        let t = tables()
        let p = tail.fromPrevious ?? RowAffine(mean: SplitMean(0), invstd: 0)
        let (ph, pl, pr) = (p.mean.hi, p.mean.lo, p.invstd)
        switch storage(S.self) {
        case .float: t.pointee.f32.affine_row(x.as(), y.as(), count, hi.as(), lo.as(), r.as(), weight?.as(), bias?.as(), stream.flag, tail.flags, ph.as(), pl.as(), pr.as(), next?.as())
        case .double: t.pointee.f64.affine_row(x.as(), y.as(), count, hi.as(), lo.as(), r.as(), weight?.as(), bias?.as(), stream.flag, tail.flags, ph.as(), pl.as(), pr.as(), next?.as())
        case .half: halfTable(t, S.self).affine_row(x.as(), y.as(), count, hi.as(), lo.as(), r.as(), weight?.as(), bias?.as(), stream.flag, tail.flags, ph.as(), pl.as(), pr.as(), next?.as())
        }
    }

    static func gradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, runs: Int, length: Int, stride: Int, hi: S.ComputeScalar,
        weight: UnsafePointer<S.ComputeScalar>?
    ) -> (Double, Double) {
        let t = tables()
        let sums: nk_pair
        switch storage(S.self) {
        case .float: sums = t.pointee.f32.gradient_sums(x.as(), dy.as(), runs, length, stride, hi.as(), weight?.as())
        case .double: sums = t.pointee.f64.gradient_sums(x.as(), dy.as(), runs, length, stride, hi.as(), weight?.as())
        case .half: sums = halfTable(t, S.self).gradient_sums(x.as(), dy.as(), runs, length, stride, hi.as(), weight?.as())
        }
        return (sums.first, sums.second)
    }

    /// `beyondCache`: whether the row is one of a call past the caches (``loops(beyondCache:)``).
    static func rowGradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ count: Int, hi: S.ComputeScalar, lo: S.ComputeScalar,
        invstd r: S.ComputeScalar, weight: UnsafePointer<S.ComputeScalar>?,
        sumDy: UnsafeMutablePointer<S.ComputeScalar>, sumDyXhat: UnsafeMutablePointer<S.ComputeScalar>, beyondCache: Bool
    ) -> (Double, Double) {
        let rows = loops(beyondCache: beyondCache)
        let sums: nk_pair
        switch storage(S.self) {
        case .float: sums = rows.f32.pointee.row_gradient_sums(x.as(), dy.as(), count, hi.as(), lo.as(), r.as(), weight?.as(), sumDy.as(),
                                   sumDyXhat.as(), nil, nil)
        case .double: sums = rows.f64.pointee.row_gradient_sums(x.as(), dy.as(), count, hi.as(), lo.as(), r.as(), weight?.as(), sumDy.as(),
                                   sumDyXhat.as(), nil, nil)
        case .half: sums = halfLoops(rows, S.self).row_gradient_sums(x.as(), dy.as(), count, hi.as(), lo.as(), r.as(), weight?.as(), sumDy.as(),
                                   sumDyXhat.as(), nil, nil)
        }
        return (sums.first, sums.second)
    }

    static func inputGradientRange<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, runs: Int, length: Int, stride: Int,
        hi: S.ComputeScalar, _ k: GradientCoefficients<S.ComputeScalar>, stream: Bool,
        next: (x: UnsafePointer<S>, dy: UnsafePointer<S>)?
    ) {
        let t = tables()
        let (nx, ndy) = (next?.x, next?.dy)
        switch storage(S.self) {
        case .float: t.pointee.f32.input_gradient_range(x.as(), dy.as(), dx.as(), runs, length, stride, hi.as(), k.k1.as(), k.k2.as(), k.k3.as(), stream.flag, nx?.as(), ndy?.as())
        case .double: t.pointee.f64.input_gradient_range(x.as(), dy.as(), dx.as(), runs, length, stride, hi.as(), k.k1.as(), k.k2.as(), k.k3.as(), stream.flag, nx?.as(), ndy?.as())
        case .half: halfTable(t, S.self).input_gradient_range(x.as(), dy.as(), dx.as(), runs, length, stride, hi.as(), k.k1.as(), k.k2.as(), k.k3.as(), stream.flag, nx?.as(), ndy?.as())
        }
    }

    static func inputGradientRow<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, _ count: Int, hi: S.ComputeScalar,
        _ k: GradientCoefficients<S.ComputeScalar>, weight: UnsafePointer<S.ComputeScalar>?, stream: Bool, beyondCache: Bool,
        next: (x: UnsafePointer<S>, dy: UnsafePointer<S>)?
    ) {
        let rows = loops(beyondCache: beyondCache)
        let (nx, ndy) = (next?.x, next?.dy)
        switch storage(S.self) {
        case .float: rows.f32.pointee.input_gradient_row(x.as(), dy.as(), dx.as(), count, hi.as(), k.k1.as(), k.k2.as(), k.k3.as(), weight?.as(), stream.flag, nx?.as(), ndy?.as())
        case .double: rows.f64.pointee.input_gradient_row(x.as(), dy.as(), dx.as(), count, hi.as(), k.k1.as(), k.k2.as(), k.k3.as(), weight?.as(), stream.flag, nx?.as(), ndy?.as())
        case .half: halfLoops(rows, S.self).input_gradient_row(x.as(), dy.as(), dx.as(), count, hi.as(), k.k1.as(), k.k2.as(), k.k3.as(), weight?.as(), stream.flag, nx?.as(), ndy?.as())
        }
    }

    /// ``inputGradientRow(_:_:_:_:hi:_:weight:stream:beyondCache:next:)`` of one row, then
    /// ``rowGradientSums(_:_:_:hi:lo:invstd:weight:sumDy:sumDyXhat:beyondCache:)`` of `next`, in one sweep.
    static func inputGradientRowThenSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, _ count: Int, hi: S.ComputeScalar,
        _ k: GradientCoefficients<S.ComputeScalar>, weight: UnsafePointer<S.ComputeScalar>?, stream: Bool, beyondCache: Bool,
        next: NextRowSums<S>, after: (x: UnsafePointer<S>, dy: UnsafePointer<S>)?
    ) -> (Double, Double) {
        let rows = loops(beyondCache: beyondCache)
        let (ax, ady) = (after?.x, after?.dy)
        let (nhi, nlo, nr) = (next.row.mean.hi, next.row.mean.lo, next.row.invstd)
        let (sumDy, sumDyXhat) = (next.columns, next.columns + next.stride)
        let sums: nk_pair
        switch storage(S.self) {
        case .float:
            sums = rows.f32.pointee.input_gradient_row_then_sums(
                x.as(), dy.as(), dx.as(), count, hi.as(), k.k1.as(), k.k2.as(), k.k3.as(), weight?.as(), stream.flag, next.x.as(),
                next.dy.as(), nhi.as(), nlo.as(), nr.as(), next.weight?.as(), sumDy.as(), sumDyXhat.as(), ax?.as(), ady?.as())
        case .double:
            sums = rows.f64.pointee.input_gradient_row_then_sums(
                x.as(), dy.as(), dx.as(), count, hi.as(), k.k1.as(), k.k2.as(), k.k3.as(), weight?.as(), stream.flag, next.x.as(),
                next.dy.as(), nhi.as(), nlo.as(), nr.as(), next.weight?.as(), sumDy.as(), sumDyXhat.as(), ax?.as(), ady?.as())
        case .half:
            sums = halfLoops(rows, S.self).input_gradient_row_then_sums(
                x.as(), dy.as(), dx.as(), count, hi.as(), k.k1.as(), k.k2.as(), k.k3.as(), weight?.as(), stream.flag, next.x.as(),
                next.dy.as(), nhi.as(), nlo.as(), nr.as(), next.weight?.as(), sumDy.as(), sumDyXhat.as(), ax?.as(), ady?.as())
        }
        return (sums.first, sums.second)
    }

    /// `out[c·rows + r] = in[r·columns + c]` for the rows in `rowRange` (a multiple of 16 from
    /// its start): one sample's matrix moved between memory formats, bit for bit.
    static func transpose<S: NormScalar>(
        _ input: UnsafePointer<S>, _ output: UnsafeMutablePointer<S>, rows: Int, columns: Int, rowRange: Range<Int>
    ) {
        let t = tables()
        let (first, end) = (rowRange.lowerBound, rowRange.upperBound)
        switch storage(S.self) {
        case .float: t.pointee.f32.transpose(input.as(), output.as(), rows, columns, first, end)
        case .double: t.pointee.f64.transpose(input.as(), output.as(), rows, columns, first, end)
        case .half: halfTable(t, S.self).transpose(input.as(), output.as(), rows, columns, first, end)
        }
    }

    static func columnShiftedSums<S: NormScalar>(
        _ x: UnsafePointer<S>, rows: Int, columns: Int, shift k: UnsafePointer<S.ComputeScalar>,
        _ s1: UnsafeMutablePointer<S.ComputeScalar>, _ s2: UnsafeMutablePointer<S.ComputeScalar>
    ) {
        let t = tables()
        switch storage(S.self) {
        case .float: t.pointee.f32.column_shifted_sums(x.as(), rows, columns, k.as(), s1.as(), s2.as())
        case .double: t.pointee.f64.column_shifted_sums(x.as(), rows, columns, k.as(), s1.as(), s2.as())
        case .half: halfTable(t, S.self).column_shifted_sums(x.as(), rows, columns, k.as(), s1.as(), s2.as())
        }
    }

    /// The mean and M2 of each column of `rows` rows (see the table's `column_moments`).
    static func columnMoments<S: NormScalar>(
        _ x: UnsafePointer<S>, rows: Int, columns: Int, scratch: UnsafeMutablePointer<S.ComputeScalar>,
        mean: UnsafeMutablePointer<Double>, m2: UnsafeMutablePointer<Double>
    ) {
        let t = tables()
        switch storage(S.self) {
        case .float: t.pointee.f32.column_moments(x.as(), rows, columns, scratch.as(), mean, m2)
        case .double: t.pointee.f64.column_moments(x.as(), rows, columns, scratch.as(), mean, m2)
        case .half: halfTable(t, S.self).column_moments(x.as(), rows, columns, scratch.as(), mean, m2)
        }
    }

    static func columnAffine<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, rows: Int, columns: Int, hi: UnsafePointer<S.ComputeScalar>,
        a: UnsafePointer<S.ComputeScalar>, b: UnsafePointer<S.ComputeScalar>, stream: ColumnStreaming, beyondCache: Bool,
        next: UnsafePointer<S>?
    ) {
        let loops = loops(beyondCache: beyondCache)
        switch storage(S.self) {
        case .float: loops.f32.pointee.column_affine(x.as(), y.as(), rows, columns, hi.as(), a.as(), b.as(), stream.flags, next?.as())
        case .double: loops.f64.pointee.column_affine(x.as(), y.as(), rows, columns, hi.as(), a.as(), b.as(), stream.flags, next?.as())
        case .half:
            halfLoops(loops, S.self).column_affine(x.as(), y.as(), rows, columns, hi.as(), a.as(), b.as(), stream.flags, next?.as())
        }
    }

    static func columnGradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, rows: Int, columns: Int, hi: UnsafePointer<S.ComputeScalar>,
        _ s1: UnsafeMutablePointer<S.ComputeScalar>, _ s2: UnsafeMutablePointer<S.ComputeScalar>
    ) {
        let t = tables()
        switch storage(S.self) {
        case .float: t.pointee.f32.column_gradient_sums(x.as(), dy.as(), rows, columns, hi.as(), s1.as(), s2.as())
        case .double: t.pointee.f64.column_gradient_sums(x.as(), dy.as(), rows, columns, hi.as(), s1.as(), s2.as())
        case .half: halfTable(t, S.self).column_gradient_sums(x.as(), dy.as(), rows, columns, hi.as(), s1.as(), s2.as())
        }
    }

    static func columnInputGradient<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, rows: Int, columns: Int,
        hi: UnsafePointer<S.ComputeScalar>, k1: UnsafePointer<S.ComputeScalar>, k2: UnsafePointer<S.ComputeScalar>,
        k3: UnsafePointer<S.ComputeScalar>, stream: ColumnStreaming, beyondCache: Bool
    ) {
        let loops = loops(beyondCache: beyondCache)
        switch storage(S.self) {
        case .float:
            loops.f32.pointee.column_input_gradient(x.as(), dy.as(), dx.as(), rows, columns, hi.as(), k1.as(), k2.as(), k3.as(),
                                                    stream.flags)
        case .double:
            loops.f64.pointee.column_input_gradient(x.as(), dy.as(), dx.as(), rows, columns, hi.as(), k1.as(), k2.as(), k3.as(),
                                                    stream.flags)
        case .half:
            halfLoops(loops, S.self).column_input_gradient(x.as(), dy.as(), dx.as(), rows, columns, hi.as(), k1.as(), k2.as(),
                                                           k3.as(), stream.flags)
        }
    }
}

/// The instruction sets NormKit's element loops are compiled for, in increasing order.
///
/// Every loop exists once per set; NormKit runs the best one the CPU and the OS support
/// (``active``), so a default release build, which targets SSE2 only, still runs AVX2 or AVX-512
/// loops where they exist. The environment variable `NORMKIT_SIMD` (`baseline`, `avx2` or
/// `avx512`) lowers the choice, for example to compare the sets with `normkit bench`; it is read
/// once, on the first kernel call. Results differ between sets only by rounding (FMA and
/// lane order).
public enum InstructionSet: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    /// SSE2 on x86-64 (what a default build targets), NEON on arm64.
    case baseline = 0
    /// AVX2 with FMA and F16C (x86-64-v3): 256-bit vectors.
    case avx2 = 1
    /// AVX-512 F, VL, BW and DQ: 512-bit vectors.
    case avx512 = 2

    /// The set NormKit's loops run in: ``supported``, lowered by `NORMKIT_SIMD` when it is set.
    public static var active: InstructionSet { NativeLoops.instructionSet }

    /// The best set this CPU and its OS support.
    public static var supported: InstructionSet { NativeLoops.supportedInstructionSet }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .baseline: "baseline"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }
}

extension Bool {
    @inline(__always)
    fileprivate var flag: Int32 { self ? 1 : 0 }
}

extension ColumnStreaming {
    @inline(__always)
    fileprivate var flags: Int32 {
        (wideRows ? Int32(NK_COLUMNS_STREAM_WIDE) : 0) | (shortRows ? Int32(NK_COLUMNS_STREAM_SHORT) : 0)
    }
}

extension RowTail {
    @inline(__always)
    fileprivate var flags: Int32 {
        (fromPrevious == nil ? 0 : Int32(NK_TAIL_FROM_PREVIOUS)) | (toNext ? Int32(NK_TAIL_TO_NEXT) : 0)
    }
}

extension UnsafePointer {
    /// The same address as a pointer to the concrete scalar type the caller has tested for.
    @inline(__always)
    fileprivate func `as`<T>() -> UnsafePointer<T> { UnsafeRawPointer(self).assumingMemoryBound(to: T.self) }
}

extension UnsafeMutablePointer {
    @inline(__always)
    fileprivate func `as`<T>() -> UnsafeMutablePointer<T> { UnsafeMutableRawPointer(self).assumingMemoryBound(to: T.self) }
}

extension NormScalar {
    /// The same value as the concrete scalar type the caller has tested for (same size).
    @inline(__always)
    fileprivate func `as`<T>() -> T { unsafeBitCast(self, to: T.self) }
}
