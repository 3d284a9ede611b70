/// Batch normalization whose statistics span every rank of a ``ProcessGroup``: data-parallel
/// training normalizes each rank's shard with the mean and variance of the whole global batch.
/// Ioffe & Szegedy, arXiv:1502.03167; synchronized statistics as in Peng et al., "MegDet",
/// arXiv:1711.07240, and PyTorch's `torch.nn.SyncBatchNorm`.
///
/// y = (x − E[x]) / √(Var[x] + ε) · γ + β, with E and Var per channel over the batch and spatial
/// axes of the *concatenation* of all ranks' shards (Var biased, M2/n).
///
/// - Shapes: any `(N, C, *)` input of rank ≥ 2; shards may differ in N (and in the spatial
///   size), and may be empty.
/// - Training forward: each rank computes its count n_r, mean μ_r and M2_r per channel; **one**
///   all-gather exchanges them; every rank merges them in rank order with Chan's formula
///   (δ = μ_b − μ_a, μ = μ_a + δ·n_b/n, M2 = M2_a + M2_b + δ²·n_a·n_b/n), weighting ranks by their
///   counts, and normalizes its shard with the global statistics. Running statistics move as
///   r ← (1 − m)·r + m·s with s the global mean and *unbiased* variance M2/(n − 1)
///   (see ``RunningStatistics``), identically on every rank.
/// - Backward: each rank computes Σdy and Σdy·x̂ per channel for its shard; **one** all-reduce
///   sums them; dx = invstd · (γ·dy − ΣΣ(γ·dy)/n − x̂ · ΣΣ(γ·dy·x̂)/n) with n the global count. The
///   weight and bias gradients stay local (as in PyTorch): their sum over ranks is BatchNorm's
///   on the whole batch, which is what a data-parallel gradient all-reduce computes.
/// - Eval mode: plain ``BatchNorm`` with the running statistics, no communication; without
///   running statistics (`trackRunningStats: false`) each rank then normalizes with its own
///   shard's statistics, as PyTorch's SyncBatchNorm does.
/// - `numBatchesTracked` counts the training steps whose *global* batch is non-empty, so it
///   moves identically on every rank, including ranks whose own shard is empty. A rank with an
///   empty shard still takes part in both collectives, contributes n_r = 0, and gets an empty
///   output and input gradient.
///
/// Communication, per layer and per training step, with F = ``frameLength`` = 270 `Double`s
/// (2,160 bytes) and P ranks: forward, one all-gather of one frame per rank (each rank receives
/// P·F values); backward, one all-reduce of one frame. A frame holds a 20-value header (status,
/// dtype and channel count) and 2C + 1 (forward) or 2C (backward) payload values, so channels
/// beyond 125 add a second collective of 8·(2C + 1 − 250) or 8·(2C − 250) bytes, made only after
/// every rank validated the headers. The fixed frame means ranks that disagree on the channel
/// count or the dtype, or a rank that failed its own input checks, make **every** rank throw,
/// with no out-of-bounds read and no rank left waiting.
///
/// Options and defaults: `eps` 1e-5, `momentum` 0.1 (`nil`: m = 1/numBatchesTracked, the
/// cumulative average), `affine` true, `trackRunningStats` true, `processGroup` nil (a group of
/// one rank: SyncBatchNorm is then BatchNorm with any input rank ≥ 2).
///
/// Errors, thrown on every rank of the group unless said otherwise (a throw changes no state):
/// - ``NormError/rankTooSmall(layer:minimum:actual:)`` and
///   ``NormError/wrongChannelCount(layer:expected:actual:)`` on the rank whose input is wrong;
///   the other ranks throw ``NormError/peerRankFailed(layer:rank:)``;
/// - ``NormError/tooFewValuesPerChannel(shape:)`` when the *global* batch has one value per
///   channel;
/// - ``NormError/rankMismatch(layer:field:rank:expected:actual:)`` and
///   ``NormError/collectiveMismatch(operation:expected:actual:)`` when ranks' layers disagree on
///   `num_features` or the dtype;
/// - the process group's own errors, such as
///   ``NormError/collectiveTimeout(operation:rank:timeout:arrived:size:)``;
/// - ``NormError/unreportedLocalFailure(local:collective:)`` on a rank whose own input or
///   gradient is wrong when the collective that tells the other ranks fails too (for example
///   times out because another rank is in eval mode): both errors, never just one.
///
/// Every rank must call the layer's training forward and backward in the same order; the ranks
/// must all be in training mode or all in eval mode.
public final class SyncBatchNorm<Scalar: NormScalar>: BatchNorm<Scalar> {
    /// The ranks whose statistics are merged; `nil` behaves as a group of one rank.
    public let processGroup: (any ProcessGroup)?
    /// Doubles in one frame of the collectives (see the type's documentation).
    public static var frameLength: Int { SyncFraming.frameLength }

    /// The BatchNorm class this layer replaced in ``convertSyncBatchNorm(_:processGroup:)``, so
    /// that ``revertSyncBatchNorm(_:)`` can restore it; `nil` when built directly.
    let revertsTo: BatchNormKind?
    /// The global element count per channel of the last forward pass, when it synchronized.
    private var lastGlobalCount: Int?

    /// Creates a SyncBatchNorm over `(N, C, *)` inputs whose statistics span `processGroup`.
    ///
    /// - Parameters:
    ///   - numFeatures: C, the size of the input's dimension 1; the same on every rank.
    ///   - eps: ε, added to the variance before the square root; default 1e-5.
    ///   - momentum: m of r ← (1 − m)·r + m·s; default 0.1; `nil` for the cumulative average.
    ///   - affine: whether γ (ones) and β (zeros), shape `[C]`, are learnable; default `true`.
    ///   - trackRunningStats: whether the layer keeps running statistics; default `true`.
    ///   - processGroup: the ranks to synchronize with, this layer's rank among them; default
    ///     `nil`, a group of one rank.
    ///
    /// A negative `numFeatures` becomes ``NormalizationLayer/configurationError``.
    public convenience init(numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                            trackRunningStats: Bool = true, processGroup: (any ProcessGroup)? = nil) {
        self.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine,
                  trackRunningStats: trackRunningStats, processGroup: processGroup, revertsTo: nil)
    }

    init(numFeatures: Int, eps: Double, momentum: Double?, affine: Bool, trackRunningStats: Bool,
         processGroup: (any ProcessGroup)?, revertsTo: BatchNormKind?) {
        self.processGroup = processGroup
        self.revertsTo = revertsTo
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine,
                   trackRunningStats: trackRunningStats, acceptedRanks: [])
    }

    override func checkInput<Input: NormScalar>(_ input: Tensor<Input>) throws {
        guard input.rank >= 2 else { throw NormError.rankTooSmall(layer: layerName, minimum: 2, actual: input.rank) }
        try checkChannels(input, axis: 1, expected: numFeatures)
    }

    private var header: SyncFraming.Header {
        SyncFraming.Header(ok: true, rank: processGroup?.rank ?? 0, dtype: SyncFraming.dtypeTag(Scalar.self),
                           channels: numFeatures)
    }

    /// The header of a rank that failed its own checks.
    private var failureHeader: SyncFraming.Header {
        var failure = header
        failure.ok = false
        return failure
    }

    override func forward<Input: NormScalar>(_ input: Tensor<Input>) throws -> (output: Tensor<Input>, saved: SavedForward)
    where Input.ComputeScalar == Scalar.ComputeScalar {
        guard isTraining, let group = processGroup, group.size > 1 else {
            let result = try super.forward(input)
            lastGlobalCount = nil
            return result
        }
        let layer = layerName, channels = numFeatures
        let geometry: NormalizationGeometry
        do {
            try checkInput(input)
            geometry = try Functional.channelGeometry(of: input, operation: layer, grouping: .perChannel)
        } catch {
            // The other ranks are waiting in the all-gather: take part with a failure frame.
            throw SyncFraming.failure(error, header: failureHeader, in: .allGather, group: group)
        }
        guard case let .moments(local) = Kernels.call(KernelCall<Input>.Request.moments(input: input.storage, geometry: geometry))
        else { fatalError("kernel response") }
        // The count each channel pools over comes from the shape, so that a layer without
        // channels still sees PyTorch's "more than 1 value per channel" check.
        let payload = [Double(Functional.valuesPerChannel(input.shape))] + local.mean + local.m2
        let all = try SyncFraming.allGather(payload, header: header, payloadLength: payload.count, layer: layer, group: group)
        let global = try all.map { values in
            // A count is a whole number of values, at most Int.max (2⁶³ in Double); a process
            // group of the caller's own might return anything else.
            guard let count = values[0] == 0x1p63 ? Int.max : SyncFraming.integer(values[0]), count >= 0 else {
                throw SyncFraming.malformed(layer, "all-gather", expected: "a count of values per channel", actual: "\(values[0])")
            }
            return Moments(count: count, mean: Array(values[1..<1 + channels]), m2: Array(values[(1 + channels)...]))
        }.reduce(Moments(count: 0, mean: [], m2: []), Moments.merged)
        if global.count == 1 { throw NormError.tooFewValuesPerChannel(shape: input.shape) }
        let statistics = global.count > 0
            ? global : Moments(count: 0, mean: [Double](repeating: 0, count: channels), m2: [Double](repeating: 0, count: channels))
        let saved = SavedStatistics<Input>(
            mean: statistics.mean, invstd: statistics.inverseStandardDeviation(eps: eps), usesBatchStatistics: true,
            geometry: geometry, centered: true, inputShape: input.shape)
        let output = Functional.normalize(input, saved: saved, weight: weight, bias: bias).output
        // As BatchNorm: a batch without elements (no samples, or no channels) is not counted.
        if global.count > 0, channels > 0, let runningMean, let runningVar {
            let next = nextTrackedBatch()
            let running = RunningStatistics.updated(mean: runningMean, variance: runningVar, toward: global, factor: next.factor)
            self.runningMean = running.mean
            self.runningVar = running.variance
            numBatchesTracked = next.count
        }
        lastGlobalCount = global.count
        return (output, SavedForward(input: input, saved: saved, weight: weight, outputShape: input.shape))
    }

    /// The backward pass. After a synchronized (training) forward it all-reduces Σdy and Σdy·x̂
    /// (see the type's documentation); after an eval-mode forward it is ``BatchNorm``'s, with no
    /// communication. A training-mode call before any forward pass still takes part in the
    /// all-reduce, so that every rank throws.
    public override func _backward<Input: NormScalar>(_ gradOutput: Tensor<Input>) throws -> Tensor<Input>
    where Input.ComputeScalar == Scalar.ComputeScalar {
        guard let group = processGroup, group.size > 1, lastGlobalCount != nil || (lastForward == nil && isTraining)
        else { return try super._backward(gradOutput) }
        let layer = layerName, channels = numFeatures
        guard let last = lastForward, let globalCount = lastGlobalCount else {
            // A training backward with nothing to differentiate: the other ranks are waiting in
            // the all-reduce, so take part with a failure frame and make them all stop.
            throw SyncFraming.failure(NormError.backwardBeforeForward(layer: layer), header: failureHeader,
                                      in: .allReduceSum, group: group)
        }
        guard gradOutput.shape == last.outputShape else {
            throw SyncFraming.failure(NormError.gradientShapeMismatch(expected: last.outputShape, actual: gradOutput.shape),
                                      header: failureHeader, in: .allReduceSum, group: group)
        }
        let input: Tensor<Input>
        do { input = try last.input(as: Input.self) } catch {
            throw SyncFraming.failure(error, header: failureHeader, in: .allReduceSum, group: group)
        }
        let geometry = last.saved.geometry, format = last.saved.kernelFormat
        let x = input.withMemoryFormat(format).storage, dy = gradOutput.withMemoryFormat(format).storage
        guard case let .sums(local) = Kernels.call(KernelCall<Input>.Request.channelGradientSums(
            input: x, gradOutput: dy, geometry: geometry, mean: last.saved.mean, invstd: last.saved.invstd))
        else { fatalError("kernel response") }
        let payload = local.sumGradOutput + local.sumGradOutputTimesNormalized
        let summed = try SyncFraming.allReduceSum(payload, header: header, payloadLength: payload.count,
                                                  layer: layer, group: group)
        let global = BackwardSums(sumGradOutput: Array(summed[..<channels]),
                                  sumGradOutputTimesNormalized: Array(summed[channels...]))
        guard case let .gradient(gradInput, _) = Kernels.call(KernelCall<Input>.Request.backward(
            input: x, gradOutput: dy, geometry: geometry, mean: last.saved.mean, invstd: last.saved.invstd,
            weight: last.weight.map(Functional.kernelParameter), mode: .globalSums(global, count: max(globalCount, 1)), channelSums: false))
        else { fatalError("kernel response") }
        if weightGradient != nil {
            accumulate(weight: Functional.affineGradient(local.sumGradOutputTimesNormalized, like: last.weight),
                       bias: Functional.affineGradient(local.sumGradOutput, like: last.weight))
        }
        return Tensor(uncheckedShape: last.outputShape, storage: gradInput, memoryFormat: format)
    }
}
