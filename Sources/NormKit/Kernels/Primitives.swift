/// The blocking and the numerics around the element loops (`NativeLoops`, in C): which
/// elements are summed together from which shift, when a block is summed again, and how the
/// mean's low part is folded into the coefficients. Everything here is generic only so that it
/// can be written once: NormKit calls it from code specialized for each scalar type (see
/// `Specialization.swift`), never through a witness table. Data is in the scalar type; shifts,
/// coefficients and block sums are in the type the loops compute in (`S.ComputeScalar`).
///
/// Two shapes of data occur:
/// - *runs*: `runs` runs of `length` contiguous elements, `stride` apart, that share one
///   statistic (a BatchNorm channel's N runs in NCHW; one run for a LayerNorm row or a group);
/// - *columns*: `rows` rows of `columns` contiguous values, one statistic or affine coefficient
///   per column (channels-last tensors, and inner size 1).
///
/// Sums accumulate in the scalar type in SIMD lanes over at most ``Kernels/blockLength``
/// elements, then in `Double`.
extension Kernels {
    /// Elements summed in the scalar type before the sums move to `Double`.
    static let blockLength = 2048

    /// Calls `body` with the start and length of each block of a row of `width` elements, in order.
    @inline(__always)
    static func forEachBlock(ofRow width: Int, _ body: (_ start: Int, _ length: Int) -> Void) {
        var start = 0
        while start < width {
            let n = min(blockLength, width - start)
            body(start, n)
            start += n
        }
    }

    /// Adds `count` contiguous elements to `moments` (see ``accumulateRuns(_:runs:length:stride:into:)``).
    static func accumulateRange<S: NormScalar>(_ x: UnsafePointer<S>, _ count: Int, into moments: inout GroupMoments) {
        accumulateRuns(x, runs: 1, length: count, stride: count, into: &moments)
    }

    /// Adds `runs` runs of `length` contiguous elements, `stride` apart (one BatchNorm channel in
    /// NCHW), to `moments`, block by block (`NK_FOR_EACH_BLOCK` in kernels_body.h): each block's
    /// deviations are summed from a shift near the mean (the mean so far, or that of the block's
    /// first 16 elements), and the block is summed again from its own mean when the shift was too
    /// far off to keep the digits (``needsNewShift(_:_:count:)``); then the block is merged with
    /// Chan's formula. In C (the table's `runs_moments`), which LayerNorm's rows in cache also
    /// call from their own loop (``NativeLoops/rowsForward(_:_:rows:length:weight:bias:eps:centered:mean:m2:invstd:)``).
    static func accumulateRuns<S: NormScalar>(
        _ x: UnsafePointer<S>, runs: Int, length: Int, stride: Int, into moments: inout GroupMoments
    ) {
        NativeLoops.runsMoments(x, runs: runs, length: length, stride: stride, into: &moments)
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

    /// One stored element in the type the loops compute in, from its bits. A plain
    /// `S.ComputeScalar(x)` takes the standard library's generic conversion for ``BFloat16``
    /// (thousands of instructions, with protocol-conformance lookups) and a compiler-rt call for
    /// `Float16` (a default build has no F16C): 22% of LayerNorm 8192×1024 on `Float16`.
    @inline(__always)
    static func widened<S: NormScalar>(_ x: S) -> S.ComputeScalar {
        if S.self == S.ComputeScalar.self { return unsafeBitCast(x, to: S.ComputeScalar.self) }
        precondition(MemoryLayout<S>.size == 2 && S.ComputeScalar.self == Float.self, "a 16-bit type computes in Float")
        let bits = unsafeBitCast(x, to: UInt16.self)
        let float = S.self == BFloat16.self ? HalfPrecisionBits.float(fromBFloat16: bits) : HalfPrecisionBits.float(fromFloat16: bits)
        return unsafeBitCast(float, to: S.ComputeScalar.self)
    }

    /// Σ x² over `count` contiguous elements (the uncentered moment of RMSNorm), in blocks, in C
    /// (the table's `sum_of_squares`).
    static func sumOfSquares<S: NormScalar>(_ x: UnsafePointer<S>, _ count: Int) -> Double {
        NativeLoops.sumOfSquares(x, count)
    }

    /// y = ((x − μ_hi) − μ_lo)·a + b over runs (one run when `runs` is 1). `next` is the next
    /// group's data, in the same runs, to fetch into cache meanwhile (see ``nextGroup(_:distance:exists:stream:groupBytes:inputs:)``).
    @inline(__always)
    static func affineRuns<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, runs: Int = 1, length: Int, stride: Int = 0,
        mean: SplitMean<S.ComputeScalar>, scale a: S.ComputeScalar, offset b: S.ComputeScalar,
        stream: Bool, next: UnsafePointer<S>? = nil
    ) {
        // ((x − hi) − lo)·a + b = (x − hi)·a + (b − lo·a): x − hi is exact near the mean.
        NativeLoops.affineRange(x, y, runs: runs, length: length, stride: stride, hi: mean.hi, a: a, b: b - mean.lo * a,
                                stream: stream, next: next)
    }

    /// y_i = ((x_i − μ_hi) − μ_lo)·invstd·w_i + b_i over one row whose affine parameters vary
    /// per element (LayerNorm, RMSNorm, GroupNorm with inner size 1). A missing weight is 1 and a
    /// missing bias 0. `stream` stores y past the caches, its last line as `tail` says; `next`:
    /// the next row, prefetched meanwhile (see ``nextGroup(_:distance:exists:stream:groupBytes:inputs:)``).
    @inline(__always)
    static func affineRow<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, _ count: Int, _ row: RowAffine<S.ComputeScalar>,
        weight: UnsafePointer<S.ComputeScalar>?, bias: UnsafePointer<S.ComputeScalar>?, stream: Bool,
        tail: RowTail<S.ComputeScalar>, next: UnsafePointer<S>?
    ) {
        NativeLoops.affineRow(x, y, count, hi: row.mean.hi, lo: row.mean.lo, invstd: row.invstd, weight: weight, bias: bias,
                              stream: stream, tail: tail, next: next)
    }

    /// Σ w_i·dy_i and Σ w_i·dy_i·(x_i − μ) over `count` ≤ ``blockLength`` elements of one row, and,
    /// when `columns` is given, adds dy_i to `columns[i]` and dy_i·x̂_i to `columns[stride + i]`
    /// (the per-column sums of LayerNorm's weight and bias gradients). `beyondCache`: whether the
    /// row is one of a call whose rows stream past the caches (``streamsRowOutput(_:rowBytes:elementBytes:parallelForward:)``),
    /// which run their own loops (``NativeLoops/rowGradientSums(_:_:_:hi:lo:invstd:weight:sumDy:sumDyXhat:beyondCache:)``).
    @inline(__always)
    static func rowGradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ count: Int, mean: SplitMean<S.ComputeScalar>,
        invstd: S.ComputeScalar, weight: UnsafePointer<S.ComputeScalar>?, columns: UnsafeMutablePointer<S.ComputeScalar>?,
        stride: Int, beyondCache: Bool
    ) -> (Double, Double) {
        guard let columns else {
            // Σg·(x − μ) = Σg·(x − hi) − lo·Σg.
            let (t1, t2) = NativeLoops.gradientSums(x, dy, runs: 1, length: count, stride: count, hi: mean.hi, weight: weight)
            return (t1, t2 - Double(mean.lo) * t1)
        }
        return NativeLoops.rowGradientSums(x, dy, count, hi: mean.hi, lo: mean.lo, invstd: invstd, weight: weight,
                                           sumDy: columns, sumDyXhat: columns + stride, beyondCache: beyondCache)
    }

    /// Σ dy and Σ dy·(x − μ) over runs of any length, summed block by block, in C (the table's
    /// `runs_gradient_sums`, which GroupNorm's groups in C call too).
    static func gradientSumsOfRuns<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, runs: Int = 1, length: Int, stride: Int = 0,
        mean: SplitMean<S.ComputeScalar>
    ) -> (Double, Double) {
        NativeLoops.runsGradientSums(x, dy, runs: runs, length: length, stride: stride, hi: mean.hi, lo: mean.lo)
    }

    /// The bytes of each of one statistic group's inputs (x, or x and dy) below which the loops
    /// leave the next group to the hardware prefetcher: below a page (4 KiB) it already runs
    /// ahead (it stops at page boundaries), and LayerNorm 65536×256 backward measured 0.92–0.96×
    /// prefetched (while each row's input gradient was written; see
    /// ``minimumFetchedBackwardRowBytes`` for the rows that fetch while they are summed).
    static let minimumPrefetchedGroupBytes = 4 << 10

    /// The shortest rows of LayerNorm's and RMSNorm's backward pass past the caches that fetch the
    /// next row into L2 while they sum one (`rows_backward` in C). Against the same build with
    /// rows of less than 4 KiB unfetched, alternating, two threads, on an Intel Xeon VM: LayerNorm
    /// 32768×512 (2 KiB rows) 1.23×, 131072×256 (1 KiB) 1.16–1.18×, 87381×384 1.13–1.16×, RMSNorm
    /// 32768×512 1.17×, 87381×384 1.10×, `bfloat16` LayerNorm 32768×512 1.11× and 16384×1024
    /// 1.13×; one thread 1.12–1.32×. Shorter rows stay unfetched: 512 bytes measured 1.05×,
    /// 256 bytes 0.89×.
    static let minimumFetchedBackwardRowBytes = 1 << 10

    /// The most bytes of input (all inputs together) one statistic group may have for the loops
    /// to prefetch the next: beyond a few L2s' worth the prefetched lines are evicted before use
    /// and read twice. InstanceNorm2d 2×4×2048×2048 (16 MiB groups) measured 0.87× prefetched,
    /// 2×8×1024×1024 (4 MiB) forward 1.04× but forward and backward 0.95×.
    static let maximumPrefetchedGroupBytes = 2 << 20

    /// `current + distance`, the same place in the next statistic group of a thread's chunk,
    /// for the loops to fetch into cache while they write this group's output. Beyond the caches
    /// a group's statistics pass otherwise waits on memory while nothing is written, and its
    /// output pass writes while nothing is read; fetching the next group during the output pass
    /// does both at once. Measured against no prefetching, paired calls in one process (run-to-run
    /// noise on this machine hides anything under 1.3× otherwise): BatchNorm2d 32×64×56×56 training
    /// forward 1.12×, 32×128×64×64 1.06×, in Double 1.08×; InstanceNorm2d 8×64×128×128 forward
    /// 1.05×, forward and backward 1.07×; LayerNorm 8192×1024 forward 1.17–1.27×, backward
    /// 1.04–1.06×. Nil when there is no next group, when the tensor fits the caches (not
    /// `stream`ed: they hold it already), or when the group's `inputs` inputs of `groupBytes`
    /// each are too small or too large (``minimumPrefetchedGroupBytes``,
    /// ``maximumPrefetchedGroupBytes``).
    @inline(__always)
    static func nextGroup<S>(
        _ current: UnsafePointer<S>, distance: Int, exists: Bool, stream: Bool, groupBytes: Int, inputs: Int = 1
    ) -> UnsafePointer<S>? {
        exists && prefetchesNextGroup(stream, groupBytes: groupBytes, inputs: inputs) ? current + distance : nil
    }

    /// Whether ``nextGroup(_:distance:exists:stream:groupBytes:inputs:)`` gives a next group
    /// where there is one: groups of `minimum` bytes or more an input (by default
    /// ``minimumPrefetchedGroupBytes``; LayerNorm's and RMSNorm's backward rows in C,
    /// ``minimumFetchedBackwardRowBytes``).
    @inline(__always)
    static func prefetchesNextGroup(_ stream: Bool, groupBytes: Int, inputs: Int = 1,
                                    minimum: Int = minimumPrefetchedGroupBytes) -> Bool {
        stream && groupBytes >= minimum && inputs * groupBytes <= maximumPrefetchedGroupBytes
    }

    /// Whether the rows of a kernel with inner size 1 (LayerNorm, RMSNorm) store their output past
    /// the caches: in `stream`ed kernels, rows of a page or more, as for prefetching. Measured
    /// paired against unstreamed rows: backward (LayerNorm 8192×1024) 1.17–1.24× faster, forward
    /// (LayerNorm and RMSNorm, 8192×1024 to 16384×1024 and 4096×2048) 1.09–1.53× once a row's
    /// unaligned last line goes to the next row (``RowTail``).
    static func streamsRows(_ stream: Bool, rowBytes: Int) -> Bool {
        stream && rowBytes >= minimumPrefetchedGroupBytes
    }

    /// Whether the backward pass sweeps each streamed row's input gradient along with the next
    /// row's sums (``Kernels/rowsBackward(_:_:_:geometry:tasks:mean:invstd:weight:mode:sums:scratch:stream:)``):
    /// for rows of `Float` or `Double` elements whose fused working set, about seven rows' bytes
    /// (x and dy of two rows, two column sums and the weight), fits the level-1 data cache
    /// (48 KiB here: rows of up to 6.9 KiB). Against two sweeps a row, builds alternating, two
    /// threads: LayerNorm 8192×1024 1.06–1.27×, 16384×1024 1.02–1.17×, 32768×1024 1.01×
    /// (memory-bound either way), 6554×1280 1.24×, 5461×1536 1.07×, 4681×1792 (7 KiB rows) 1.02×;
    /// RMSNorm 8192×1024 1.02–1.14×; one thread 1.05–1.25×. `Double` rows, once tensors started
    /// on a cache line (``TensorArrays``; off a line they had measured 0.69–0.79× fused):
    /// LayerNorm 8192×512 1.25× (one thread 1.34×), 16384×512 1.28×, 8192×768 1.17×, 4096×512
    /// 1.14×; RMSNorm 8192×512 1.29×. Left with two sweeps: rows whose working set overflows L1
    /// (4096×2048 0.88–0.94×) and 16-bit rows (`bfloat16` and `float16` LayerNorm 8192×1024
    /// 0.99×, `bfloat16` 4096×2048 1.03–1.07×). Fused or not, the results are the same to the bit
    /// (`RowBackwardFusionTests`).
    static func fusesRowBackward<S: NormScalar>(_ stream: Bool, rowBytes: Int, _: S.Type) -> Bool {
        streamsRows(stream, rowBytes: rowBytes) && (S.self == Float.self || S.self == Double.self)
            && 7 * rowBytes <= NativeLoops.levelOneDataCacheBytes
    }

    /// The shortest rows of 4- and 8-byte elements that stream (LayerNorm, RMSNorm): rows of
    /// 2–4 KiB stream too, forward and backward. Forward, each row fetches the row at least a page
    /// ahead (``forwardRowsAhead(rowBytes:)``); against unstreamed, unprefetched rows, LayerNorm
    /// beyond L3, builds alternating: 8192×768 1.17–1.65×, 43690×768 1.14–1.63×, 65536×512
    /// 0.96–1.39×. Backward, in the loops for calls past the caches (AVX2's on an AVX-512
    /// machine) and not fused with the next row's sums (``fusesRowBackward(_:rowBytes:_:)``),
    /// against unstreamed rows in AVX-512's loops, alternating: LayerNorm 8192×768 1.22–1.49× on
    /// two threads, 1.43× on one; 16384×768 1.24×; 43690×768 1.19×; 16384×512 1.20–1.24×; Double
    /// 16384×384 1.34×; GroupNorm on (N, C) with one group of 768 1.09×. RMSNorm's rows, which
    /// had measured faster at some allocations of the output and slower at others (1.08–1.09×
    /// faster, 1.1–2.5× slower), stream since tensors start on a cache line (``TensorArrays``):
    /// 8192×768 forward 1.40× on two threads and 1.27× on one, 43690×768 1.48×, 16384×512 1.03×;
    /// backward 1.10–1.15×.
    /// These stay as they were: shorter rows (on aligned tensors, LayerNorm 87381×384 and
    /// 131072×256 streamed measured 1.16–1.34× on two threads but 0.84–0.90× on one; 512-byte
    /// rows 0.76× forward), and, except on Intel CPUs (``streamsShortHalfPrecisionRows``), rows
    /// of 16-bit elements.
    static let minimumStreamedShortRowBytes = 2 << 10

    /// Whether rows of 16-bit elements from ``minimumStreamedShortRowBytes`` up to a page stream
    /// too (longer ones always do, ``streamsRows(_:rowBytes:)``): on Intel CPUs only. On the
    /// project's AMD EPYC (Zen 5) VM a `Float` LayerNorm on `Float16` or `BFloat16` input,
    /// 8192×1024, measured 0.81–0.96× forward with these rows streamed (aligned tensors), whose
    /// 16-bit vectors fill half a cache line per streamed store. On an Intel Xeon (Emerald Rapids)
    /// VM, against the same build unstreamed, alternating: `bfloat16` LayerNorm 8192×1024 forward
    /// 1.15–1.26× on two threads and 1.54× on one, `float16` 1.20×, 16384×1024 `bfloat16` 1.40×;
    /// backward 1.10–1.17× (RMSNorm `float16` 1.13×); `bfloat16` RMSNorm forward 1.05×. Rows of
    /// 1.5 KiB in a forward pass split over threads (`bfloat16` LayerNorm 8192×768) measured 0.99×,
    /// so the 16-bit rows keep the 2 KiB minimum there too.
    static let streamsShortHalfPrecisionRows = NativeLoops.cpuIsIntel

    /// The shortest rows that stream in a forward pass split over threads: LayerNorm 87381×384
    /// (1.5 KiB rows) forward 1.34× against unstreamed rows, 131072×256 (1 KiB) 1.21–1.22×, on
    /// two threads, builds alternating; on one thread the same rows measured 0.84× streamed, and
    /// 512-byte rows 0.76× on two, so neither streams.
    static let minimumStreamedParallelForwardRowBytes = 1 << 10

    /// Whether a row (inner size 1) of a forward or backward pass stores its output past the
    /// caches: ``streamsRows(_:rowBytes:)``, or, for elements of 4 bytes or more, rows of
    /// ``minimumStreamedShortRowBytes`` or more, or of ``minimumStreamedParallelForwardRowBytes``
    /// or more in a forward pass whose rows are split over threads (`parallelForward`,
    /// ``splitsRows(_:)``); for 16-bit elements, rows of ``minimumStreamedShortRowBytes`` or more
    /// where ``streamsShortHalfPrecisionRows``.
    static func streamsRowOutput(_ stream: Bool, rowBytes: Int, elementBytes: Int, parallelForward: Bool = false) -> Bool {
        guard stream else { return false }
        if streamsRows(stream, rowBytes: rowBytes) { return true }
        if elementBytes < 4 { return streamsShortHalfPrecisionRows && rowBytes >= minimumStreamedShortRowBytes }
        return rowBytes >= (parallelForward ? minimumStreamedParallelForwardRowBytes : minimumStreamedShortRowBytes)
    }

    /// Whether a kernel over the statistic groups of `g` (rows, for inner size 1) runs on more
    /// than one thread.
    static func splitsRows(_ g: NormalizationGeometry) -> Bool {
        Parallelism.chunkCount(taskCount: g.outer * g.groupsPerSample, elements: g.elementCount) > 1
    }

    /// How the rows (inner size 1) of a forward pass in a `stream`ed call go, in C
    /// (``NativeLoops/rowsForward(_:_:rows:length:weight:bias:eps:centered:stream:ahead:mean:m2:invstd:)``)
    /// or one by one (``normalizeGroup(_:_:geometry:firstChannel:mean:invstd:weight:bias:stream:parallel:tasksAfter:previousRow:)``):
    /// whether they stream their output
    /// (``streamsRowOutput(_:rowBytes:elementBytes:parallelForward:)``), and how many rows ahead
    /// each fetches (``forwardRowsAhead(rowBytes:)`` when streamed, else the next row; 0 where
    /// ``prefetchesNextGroup(_:groupBytes:inputs:)`` fetches nothing). In C these rows shed the
    /// quarter of their time that Swift's row-by-row bookkeeping took (LayerNorm 87381×384); against
    /// the rows in Swift, builds alternating, two threads: LayerNorm 87381×384 forward 1.10–1.19×,
    /// 131072×256 1.22–1.38×, 8192×1024 1.04–1.22×, 4096×2048 1.08×; RMSNorm 8192×768 1.23–1.26×,
    /// 8192×1024 1.04–1.19×; in the machine's slow phases, when memory stalls hide the bookkeeping,
    /// 0.97–1.04×, and so on one thread (0.98–0.99×), in `Double` and `bfloat16` (1.00×).
    static func rowsForwardSetting(_ stream: Bool, rowBytes: Int, elementBytes: Int, parallel: Bool) -> (streamed: Bool, ahead: Int) {
        let streamed = streamsRowOutput(stream, rowBytes: rowBytes, elementBytes: elementBytes, parallelForward: parallel)
        let ahead = streamed ? forwardRowsAhead(rowBytes: rowBytes) : 1
        return (streamed, prefetchesNextGroup(stream, groupBytes: ahead * rowBytes) ? ahead : 0)
    }

    /// How many rows ahead a streamed forward row fetches: the first row at least a page
    /// (``minimumPrefetchedGroupBytes``) ahead, so that short rows fetch as far ahead as long ones.
    static func forwardRowsAhead(rowBytes: Int) -> Int {
        max(1, (minimumPrefetchedGroupBytes + rowBytes - 1) / max(rowBytes, 1))
    }

    /// Whether a channels-last GroupNorm or InstanceNorm forward, moving `bytes` (x and y), fetches
    /// each thread's next sample of `sampleBytes` into L2 while it writes one sample's output, so
    /// that the next sample's statistics sweep reads from cache while memory takes the writes:
    /// from 1.25 times the last-level cache, for samples that fit L2 and whose rows do not go as
    /// one run (``ColumnStreaming``; `column_affine` fetches only row by row). Measured,
    /// alternating, two threads: GroupNorm(32) channels-last 32×256×32×32 (1 MiB samples)
    /// 1.11–1.16×, 24×256×32×32 1.12×; 16×256×32×32 (x and y the cache's size) 0.92×, and
    /// 16×512×32×32 (2 MiB samples) 0.98×, which stay unprefetched; 64-channel rows fetched within
    /// their run 0.93–1.03× (GroupNorm 32×64×64×64, InstanceNorm2d 64×64×64×64).
    static func prefetchesNextSample(bytes: Int, sampleBytes: Int) -> Bool {
        NativeLoops.streamsSingleSweep(bytes: bytes) && sampleBytes >= minimumPrefetchedGroupBytes
            && sampleBytes <= NativeLoops.levelTwoCacheBytes
    }

    /// ``nextGroup(_:distance:exists:stream:groupBytes:inputs:)`` for the two inputs of a
    /// backward pass; `groupBytes` is the size of each.
    @inline(__always)
    static func nextGroups<S>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, distance: Int, exists: Bool, stream: Bool, groupBytes: Int
    ) -> (x: UnsafePointer<S>, dy: UnsafePointer<S>)? {
        nextGroup(x, distance: distance, exists: exists, stream: stream, groupBytes: groupBytes, inputs: 2)
            .map { ($0, dy + distance) }
    }

    /// dx = k1·dy − k2·((x − μ_hi) − μ_lo) + k3 over runs (one run when `runs` is 1). `next`: as
    /// ``affineRuns(_:_:runs:length:stride:mean:scale:offset:stream:next:)``'s, for x and dy.
    @inline(__always)
    static func inputGradientRuns<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, runs: Int = 1, length: Int,
        stride: Int = 0, mean: SplitMean<S.ComputeScalar>, _ k: GradientCoefficients<S.ComputeScalar>, stream: Bool,
        next: (x: UnsafePointer<S>, dy: UnsafePointer<S>)? = nil
    ) {
        NativeLoops.inputGradientRange(x, dy, dx, runs: runs, length: length, stride: stride, hi: mean.hi,
                                       k.foldingLowPart(of: mean), stream: stream, next: next)
    }

    /// dx_i = k1·w_i·dy_i − k2·((x_i − μ_hi) − μ_lo) + k3 over one row whose weight varies per
    /// element. `stream` stores dx past the caches, in the loops for calls past them (as
    /// ``rowGradientSums(_:_:_:mean:invstd:weight:columns:stride:beyondCache:)`` of a streamed row);
    /// `next`: the next row's x and dy, prefetched meanwhile.
    @inline(__always)
    static func inputGradientRow<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, _ count: Int,
        mean: SplitMean<S.ComputeScalar>, _ k: GradientCoefficients<S.ComputeScalar>, weight: UnsafePointer<S.ComputeScalar>?,
        stream: Bool, next: (x: UnsafePointer<S>, dy: UnsafePointer<S>)?
    ) {
        NativeLoops.inputGradientRow(x, dy, dx, count, hi: mean.hi, k.foldingLowPart(of: mean), weight: weight, stream: stream,
                                     beyondCache: stream, next: next)
    }
}

/// The row whose sums ``NativeLoops/inputGradientRowThenSums(_:_:_:_:hi:_:weight:stream:beyondCache:next:after:)``
/// computes: its x and dy, statistics and weight, and its columns' weight and bias gradient sums.
struct NextRowSums<S: NormScalar> {
    let x: UnsafePointer<S>
    let dy: UnsafePointer<S>
    let row: RowAffine<S.ComputeScalar>
    let weight: UnsafePointer<S.ComputeScalar>?
    /// Σdy per column, then Σdy·x̂ per column `stride` scalars later.
    let columns: UnsafeMutablePointer<S.ComputeScalar>
    let stride: Int
}

/// A row's normalization: its mean and 1/σ.
struct RowAffine<S: NormScalar> {
    var mean: SplitMean<S>
    var invstd: S
}

/// Which rows of the columns kernels (``Kernels/columnAffine(_:_:rows:columns:_:stream:lastRowsFirst:next:)``,
/// ``Kernels/columnInputGradient(_:_:_:rows:columns:_:stream:lastRowsFirst:)``) store past the
/// caches, in a call its caller streams: rows of 1 KiB or more (`wideRows`), and short rows of
/// whole vectors (`shortRows`: up to 256 bytes, or four vectors: BatchNorm's and InstanceNorm's
/// 64 `Float` channels) when the call moves at least 1.25 times the last-level cache
/// (``NativeLoops/streamsSingleSweep(bytes:)``). Short rows streamed against not (AVX-512, builds
/// alternating, two threads): beyond the cache BatchNorm2d 32×64×56×56 channels-last training
/// forward 1.15–1.56×, BatchNorm3d 8×64×16×32×32 1.16×, InstanceNorm2d 8×64×128×128 forward
/// 1.13–1.15× and backward 1.13×, InstanceNorm3d 8×32×32×32×32 1.21× and 1.14×, GroupNorm
/// 16×64×64×64 backward 1.13–1.30× and 32×64×64×64 forward 1.20×; with AVX2 (64 channels are
/// 8 vectors there) BatchNorm2d 32×64×56×56 forward 1.11–1.27×, backward 1.11×; at the cache's
/// size (x and y 32 MiB in all) 0.84–0.87× (BatchNorm2d and GroupNorm 16×64×64×64,
/// InstanceNorm2d 4×64×128×128 forward), where x and y otherwise both stay cached for the next call.
struct ColumnStreaming {
    var wideRows: Bool
    var shortRows: Bool
}

extension ColumnStreaming {
    /// For a call that moves `bytes` (inputs and output), where the caller streams when `stream`.
    init(_ stream: Bool, bytes: Int) {
        self.init(wideRows: stream, shortRows: stream && NativeLoops.streamsSingleSweep(bytes: bytes))
    }
}

/// Who writes a streamed row's last cache line, which the row shares with the next row's first
/// elements when rows are not aligned to the vector: written after the row's streamed lines it
/// measured 1.3–2.8× slower (RMSNorm 8192×1024 forward), so a thread's next row writes it, with
/// its own first elements, before its streamed lines (`NK_TAIL_TO_NEXT` in CNormKitKernels.h).
/// Rows must be contiguous and share their weight and bias.
struct RowTail<S: NormScalar> {
    /// The previous row's coefficients, when it left its last elements to this row.
    var fromPrevious: RowAffine<S>?
    /// Whether this row leaves its last elements to the next row's call.
    var toNext: Bool

    /// For a row of a thread's chunk: `previous` is the chunk's row before (nil for its first),
    /// `hasNext` whether the chunk goes on. Only streamed rows hand their tails on, and only
    /// where every row has the same weight and bias (one group per sample: LayerNorm, RMSNorm).
    init(streamed: Bool, geometry g: NormalizationGeometry, previous: RowAffine<S>?, hasNext: Bool) {
        let handsOn = streamed && g.groupsPerSample == 1
        fromPrevious = handsOn ? previous : nil
        toNext = handsOn && hasNext
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

extension GradientCoefficients {
    /// k1, k2, k3 computed in `Double` (``GradientMode/coefficients(invstd:gamma:sumG:sumGXhat:count:)``),
    /// rounded to the type the loops compute in.
    init(_ k: (Double, Double, Double)) {
        self.init(k1: S(k.0), k2: S(k.1), k3: S(k.2))
    }

    /// The same map for loops that subtract only μ's high part:
    /// −k2·((x − hi) − lo) + k3 = −k2·(x − hi) + (k3 + k2·lo).
    func foldingLowPart(of mean: SplitMean<S>) -> Self {
        GradientCoefficients(k1: k1, k2: k2, k3: k3 + k2 * mean.lo)
    }
}

// MARK: Columns
extension Kernels {
    /// Adds `rows` rows of `columns` values to `moments`, one statistic per run of `width`
    /// adjacent columns (a group's channels, as channels-last GroupNorm; one statistic a column
    /// runs in C, ``NativeLoops/columnMoments(_:rows:columns:scratch:mean:m2:)``), in blocks of
    /// rows summed from a per-statistic shift near its mean, as
    /// ``accumulateRuns(_:runs:length:stride:into:)`` does for runs. `scratch` holds 3·columns
    /// scalars.
    static func accumulateColumns<S: NormScalar>(
        _ x: UnsafePointer<S>, rows: Int, columns: Int, width: Int, into moments: UnsafeMutablePointer<GroupMoments>,
        scratch: UnsafeMutablePointer<S.ComputeScalar>
    ) {
        let shift = scratch, s1 = scratch + columns, s2 = scratch + 2 * columns
        let statistics = columns / width
        // Σ and Σ² of statistic `index` over its columns, in Double.
        func sums(_ index: Int) -> (Double, Double) {
            var t1 = 0.0, t2 = 0.0
            for c in index * width..<(index + 1) * width {
                t1 += Double(s1[c])
                t2 += Double(s2[c])
            }
            return (t1, t2)
        }
        func setShift(_ index: Int, _ value: S.ComputeScalar) {
            (shift + index * width).update(repeating: value, count: width)
        }
        let blockRows = 128  // at most 128 values per lane in the scalar type, as in a range block
        var start = 0
        while start < rows {
            let n = min(blockRows, rows - start), block = x + start * columns, count = n * width
            for index in 0..<statistics {
                setShift(index, moments[index].count > 0 ? S.ComputeScalar(moments[index].mean) : widened(block[index * width]))
            }
            for pass in 0..<2 {
                s1.update(repeating: 0, count: columns)
                s2.update(repeating: 0, count: columns)
                NativeLoops.columnShiftedSums(block, rows: n, columns: columns, shift: shift, s1, s2)
                var cancelled = false
                if pass == 0 {
                    for index in 0..<statistics {
                        let (t1, t2) = sums(index)
                        guard needsNewShift(t1, t2, count: count) else { continue }
                        setShift(index, S.ComputeScalar(Double(shift[index * width]) + t1 / Double(count)))
                        cancelled = true
                    }
                }
                if !cancelled { break }
            }
            for index in 0..<statistics {
                let (t1, t2) = sums(index)
                moments[index].merge(count: Double(count), mean: Double(shift[index * width]) + t1 / Double(count),
                                     m2: blockM2(t1, t2, count: count))
            }
            start += n
        }
    }

    /// y[r, c] = (x[r, c] − hi[c])·a[c] + b[c], with μ's low part already folded into b (see
    /// ``ColumnCoefficients/setAffine(_:mean:scale:offset:)``); `stream` says which rows store past
    /// the caches; `lastRowsFirst` visits the rows as ``forEachRowBlock(rows:rowBytes:lastFirst:_:)``
    /// does; `next`, the same place in the next sample, is fetched into L2 meanwhile
    /// (``prefetchesNextSample(bytes:sampleBytes:)``); `beyondCache`: whether the call runs the
    /// loops for wide columns past L2 (``columnAffineBeyondCache(columns:bytes:streaming:_:)``).
    static func columnAffine<S: NormScalar>(
        _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, rows: Int, columns: Int,
        _ k: ColumnCoefficients<S.ComputeScalar>, stream: ColumnStreaming, lastRowsFirst: Bool, beyondCache: Bool = false,
        next: UnsafePointer<S>?
    ) {
        forEachRowBlock(rows: rows, rowBytes: columns * MemoryLayout<S>.stride, lastFirst: lastRowsFirst) { first, count in
            let offset = first * columns
            NativeLoops.columnAffine(x + offset, y + offset, rows: count, columns: columns, hi: k.hi, a: k.a, b: k.b, stream: stream,
                                     beyondCache: beyondCache, next: next.map { $0 + offset })
        }
    }

    /// Whether a channels-last or `(N, C)` BatchNorm normalization over rows of `columns`, `bytes`
    /// of input in all, that does not stream (`streaming`), runs the loops for calls past the
    /// caches (`beyond_cache` in CNormKitKernels.h: AVX2's on an AVX-512 machine): rows of
    /// 1 KiB or more, over at least four level-2 caches. Against AVX-512's loops, builds
    /// alternating, one thread: BatchNorm1d 4096×1024 eval 1.76× faster, training forward 1.29×;
    /// two threads: eval 1.38×. Left on AVX-512's: streamed rows (BatchNorm2d 32×256×28×28
    /// channels-last eval took 1.9× longer with AVX2's, whose 32-byte streamed stores fill half
    /// lines), BatchNorm1d 512×1024 eval (2 MiB) and GroupNorm's channels-last samples (1 MiB,
    /// 0.95×).
    static func columnAffineBeyondCache<S: NormScalar>(columns: Int, bytes: Int, streaming: ColumnStreaming, _: S.Type) -> Bool {
        !streaming.wideRows && columns * MemoryLayout<S>.stride >= 1 << 10 && bytes >= 4 * NativeLoops.levelTwoCacheBytes
    }

    /// Whether the input gradient of a channels-last or `(N, C)` BatchNorm backward over rows of
    /// `columns`, in a call that streams (`stream`: x, dy and dx past the last-level cache,
    /// ``NativeLoops/streams(bytes:)``), runs the loops for calls past the caches (as
    /// ``columnAffineBeyondCache(columns:bytes:streaming:_:)``): rows of 1 KiB or more. Against
    /// AVX-512's loops, builds alternating, one thread and two: BatchNorm1d 4096×1024 1.03–1.06×
    /// and 1.06–1.17× faster, 16384×1024 1.08× and 1.03×, 8192×512 1.27× and 1.07×, Double
    /// 4096×1024 1.08× (one thread); channels-last BatchNorm2d 32×256×28×28 1.23× and 1.05×.
    /// Calls that fit the last-level cache keep AVX-512's: with AVX2's (and their sums' loops)
    /// BatchNorm1d 1024×1024 took 1.07× longer, 2048×1024 on two threads 1.06×, channels-last
    /// BatchNorm2d 16×256×16×16 1.17×. The sums' loops, which only load, stay on AVX-512's past
    /// the caches too: AVX2's took 1.03–1.11× longer.
    static func columnInputGradientBeyondCache<S: NormScalar>(columns: Int, stream: Bool, _: S.Type) -> Bool {
        stream && columns * MemoryLayout<S>.stride >= 1 << 10
    }

    /// Calls `body(firstRow, rowCount)` on blocks of rows that together cover `0..<rows` once:
    /// one block in order, or, when `lastFirst`, blocks of about a quarter of the level-2 cache
    /// from the last to the first. A second sweep that starts where the first ended finds the
    /// rows the first read last still in the level-2 cache, where in order it would find none
    /// once the sweep outgrows that cache: each line it needs is the oldest, evicted first
    /// (see ``NativeLoops/revisitsLastRowsFirst(bytes:)``).
    @inline(__always)
    static func forEachRowBlock(rows: Int, rowBytes: Int, lastFirst: Bool, _ body: (_ first: Int, _ count: Int) -> Void) {
        guard lastFirst else { return body(0, rows) }
        let blockRows = max(1, NativeLoops.levelTwoCacheBytes / 4 / max(rowBytes, 1))
        var end = rows
        while end > 0 {
            let first = max(0, end - blockRows)
            body(first, end - first)
            end = first
        }
    }

    /// Per-column Σ dy and Σ dy·(x − μ) over `rows` rows, summed in blocks of rows and added to
    /// `sumDy` and `sumDyD` in `Double`. `scratch` holds 2·columns scalars.
    static func accumulateColumnGradientSums<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, rows: Int, columns: Int,
        _ k: ColumnCoefficients<S.ComputeScalar>, sumDy: UnsafeMutablePointer<Double>, sumDyD: UnsafeMutablePointer<Double>,
        scratch: UnsafeMutablePointer<S.ComputeScalar>
    ) {
        let s1 = scratch, s2 = scratch + columns
        let blockRows = 64  // at most 64 values per lane (128 measured 1.3× slower on BatchNorm1d 4096×1024)
        var start = 0
        while start < rows {
            let n = min(blockRows, rows - start)
            s1.update(repeating: 0, count: columns)
            s2.update(repeating: 0, count: columns)
            NativeLoops.columnGradientSums(x + start * columns, dy + start * columns, rows: n, columns: columns, hi: k.hi, s1, s2)
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
    /// `stream` and `lastRowsFirst` as in ``columnAffine(_:_:rows:columns:_:stream:lastRowsFirst:next:)``.
    static func columnInputGradient<S: NormScalar>(
        _ x: UnsafePointer<S>, _ dy: UnsafePointer<S>, _ dx: UnsafeMutablePointer<S>, rows: Int, columns: Int,
        _ k: ColumnCoefficients<S.ComputeScalar>, stream: ColumnStreaming, lastRowsFirst: Bool, beyondCache: Bool = false
    ) {
        forEachRowBlock(rows: rows, rowBytes: columns * MemoryLayout<S>.stride, lastFirst: lastRowsFirst) { first, count in
            let offset = first * columns
            NativeLoops.columnInputGradient(x + offset, dy + offset, dx + offset, rows: count, columns: columns, hi: k.hi,
                                            k1: k.a, k2: k.b, k3: k.c, stream: stream, beyondCache: beyondCache)
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

    /// y = ((x − hi) − lo)·scale + offset for column `column`, folded in the scalar type as
    /// ``Kernels/affineRuns(_:_:runs:length:stride:mean:scale:offset:stream:next:)`` folds it:
    /// b = offset − lo·scale.
    @inline(__always)
    func setRunAffine(_ column: Int, mean: Double, scale: S, offset: S) {
        setMean(column, mean)
        a[column] = scale
        b[column] = offset - lo[column] * scale
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
