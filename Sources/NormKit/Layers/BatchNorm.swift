/// Batch normalization: each channel is normalized with statistics pooled over the batch and
/// spatial axes. Ioffe & Szegedy, "Batch Normalization", arXiv:1502.03167.
///
/// y = (x − E[x]) / √(Var[x] + ε) · γ + β
///
/// - Reduction axes: all but the channel axis 1.
/// - Training mode: E and Var are the batch's (Var biased, M2/n), and the running statistics
///   move as r ← (1 − m)·r + m·s with s the batch mean and *unbiased* variance M2/(n − 1)
///   (see ``RunningStatistics``). `momentum: nil` makes m = 1/numBatchesTracked, the cumulative
///   average.
/// - Eval mode: the running statistics normalize; without tracking, the batch statistics do.
/// - An empty batch returns an empty output and changes no statistic; unlike PyTorch,
///   `numBatchesTracked` does not count it, so `momentum: nil` averages real batches only.
///
/// Options and defaults: `eps` 1e-5, `momentum` 0.1, `affine` true (γ = 1, β = 0 learnable),
/// `trackRunningStats` true.
///
/// Errors: ``NormError/wrongRank(layer:expected:actual:)``,
/// ``NormError/wrongChannelCount(layer:expected:actual:)``, and
/// ``NormError/tooFewValuesPerChannel(shape:)`` when training sees one value per channel.
///
/// Use ``BatchNorm1d``, ``BatchNorm2d`` or ``BatchNorm3d``, which fix the accepted ranks.
public class BatchNorm<Scalar: NormScalar>: NormalizationLayer<Scalar> {
    /// C, the number of channels.
    public let numFeatures: Int
    /// m of r ← (1 − m)·r + m·s; `nil` for the cumulative moving average.
    public let momentum: Double?
    /// Whether γ and β are learnable parameters (``NormalizationLayer/weight`` and
    /// ``NormalizationLayer/bias`` are `nil` without them).
    public let affine: Bool
    /// Whether the layer keeps `running_mean`, `running_var` and `num_batches_tracked`; without
    /// them it normalizes with batch statistics in eval mode too.
    public let trackRunningStats: Bool
    /// The input ranks this layer accepts.
    let acceptedRanks: [Int]

    init(numFeatures: Int, eps: Double, momentum: Double?, affine: Bool, trackRunningStats: Bool,
         acceptedRanks: [Int]) {
        self.numFeatures = numFeatures
        self.momentum = momentum
        self.affine = affine
        self.trackRunningStats = trackRunningStats
        self.acceptedRanks = acceptedRanks
        super.init(eps: eps, parameterShape: [numFeatures], affine: affine,
                   trackingChannels: trackRunningStats ? numFeatures : nil)
    }

    override var configurationDescription: String {
        "\(numFeatures), eps: \(eps), momentum: \(momentum.map { "\($0)" } ?? "nil"), affine: \(affine), "
            + "trackRunningStats: \(trackRunningStats)"
    }

    /// Checks rank and channel count.
    func checkInput<Input: NormScalar>(_ input: Tensor<Input>) throws {
        try checkRank(input, acceptedRanks)
        try checkChannels(input, axis: 1, expected: numFeatures)
    }

    /// The batch count after one more non-empty training batch, and the momentum factor m that
    /// batch uses (1 / count for `momentum: nil`).
    func nextTrackedBatch() -> (count: Int, factor: Double) {
        let count = min((numBatchesTracked ?? 0) + 1, RunningStatistics.maxTrackedBatches)
        return (count, RunningStatistics.momentumFactor(momentum: momentum, numBatchesTracked: count))
    }

    override func forward<Input: NormScalar>(_ input: Tensor<Input>) throws -> (output: Tensor<Input>, saved: SavedForward)
    where Input.ComputeScalar == Scalar.ComputeScalar {
        try checkInput(input)
        let next = nextTrackedBatch()
        let result = try Functional.batchNormForward(
            input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
            training: isTraining || runningMean == nil, momentum: next.factor, eps: eps)
        if isTraining && runningMean != nil && input.count > 0 {
            runningMean = result.runningMean
            runningVar = result.runningVar
            numBatchesTracked = next.count
        }
        return (result.output, SavedForward(input: input, saved: result.saved, weight: weight, outputShape: input.shape))
    }
}

/// BatchNorm over `(N, C)` or `(N, C, L)` inputs. See ``BatchNorm``.
public final class BatchNorm1d<Scalar: NormScalar>: BatchNorm<Scalar> {
    /// Creates a BatchNorm1d layer with C = `numFeatures` channels, accepting `(N, C)` or `(N, C, L)` inputs.
    ///
    /// - Parameters:
    ///   - numFeatures: C, the size of the input's dimension 1.
    ///   - eps: ε, added to the variance before the square root; default 1e-5.
    ///   - momentum: m of r ← (1 − m)·r + m·s; default 0.1; `nil` for the cumulative average.
    ///   - affine: whether γ (ones) and β (zeros), shape `[C]`, are learnable parameters; default `true`.
    ///   - trackRunningStats: whether the layer keeps running statistics (zeros and ones) and
    ///     normalizes with them in eval mode; default `true`.
    ///
    /// The constructor does not throw: a negative `numFeatures` becomes the layer's
    /// ``NormalizationLayer/configurationError``, which every call then throws.
    public init(numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine,
                   trackRunningStats: trackRunningStats, acceptedRanks: [2, 3])
    }
}

/// BatchNorm over `(N, C, H, W)` inputs. See ``BatchNorm``.
public final class BatchNorm2d<Scalar: NormScalar>: BatchNorm<Scalar> {
    /// Creates a BatchNorm2d layer with C = `numFeatures` channels, accepting `(N, C, H, W)` inputs.
    ///
    /// - Parameters:
    ///   - numFeatures: C, the size of the input's dimension 1.
    ///   - eps: ε, added to the variance before the square root; default 1e-5.
    ///   - momentum: m of r ← (1 − m)·r + m·s; default 0.1; `nil` for the cumulative average.
    ///   - affine: whether γ (ones) and β (zeros), shape `[C]`, are learnable parameters; default `true`.
    ///   - trackRunningStats: whether the layer keeps running statistics (zeros and ones) and
    ///     normalizes with them in eval mode; default `true`.
    ///
    /// The constructor does not throw: a negative `numFeatures` becomes the layer's
    /// ``NormalizationLayer/configurationError``, which every call then throws.
    public init(numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine,
                   trackRunningStats: trackRunningStats, acceptedRanks: [4])
    }
}

/// BatchNorm over `(N, C, D, H, W)` inputs. See ``BatchNorm``.
public final class BatchNorm3d<Scalar: NormScalar>: BatchNorm<Scalar> {
    /// Creates a BatchNorm3d layer with C = `numFeatures` channels, accepting `(N, C, D, H, W)` inputs.
    ///
    /// - Parameters:
    ///   - numFeatures: C, the size of the input's dimension 1.
    ///   - eps: ε, added to the variance before the square root; default 1e-5.
    ///   - momentum: m of r ← (1 − m)·r + m·s; default 0.1; `nil` for the cumulative average.
    ///   - affine: whether γ (ones) and β (zeros), shape `[C]`, are learnable parameters; default `true`.
    ///   - trackRunningStats: whether the layer keeps running statistics (zeros and ones) and
    ///     normalizes with them in eval mode; default `true`.
    ///
    /// The constructor does not throw: a negative `numFeatures` becomes the layer's
    /// ``NormalizationLayer/configurationError``, which every call then throws.
    public init(numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine,
                   trackRunningStats: trackRunningStats, acceptedRanks: [5])
    }
}
