/// Instance normalization: each (sample, channel) is normalized over its own spatial axes.
/// Ulyanov, Vedaldi & Lempitsky, "Instance Normalization", arXiv:1607.08022.
///
/// y = (x − E[x]) / √(Var[x] + ε) · γ + β, E and Var per (n, c) over the spatial axes.
/// It is ``GroupNorm`` with one group per channel, plus optional running statistics.
///
/// - Inputs: with a batch, `(N, C, L)` / `(N, C, H, W)` / `(N, C, D, H, W)`; without one,
///   `(C, L)` / `(C, H, W)` / `(C, D, H, W)`, and the output has the input's shape.
/// - With `trackRunningStats`, training moves the running statistics as
///   r ← (1 − m)·r + m·s, where s averages the instances' means and unbiased variances over the
///   batch; eval mode then normalizes every instance with them. As in PyTorch, `momentum: nil`
///   counts as 0 here (the running statistics never move) and `numBatchesTracked` stays 0.
/// - A state dict of a layer without tracking may carry `running_mean` and `running_var` (old
///   PyTorch checkpoints do); they are dropped without an error.
///
/// Options and defaults: `eps` 1e-5, `momentum` 0.1, `affine` false, `trackRunningStats` false.
///
/// Errors: ``NormError/wrongRank(layer:expected:actual:)``,
/// ``NormError/wrongChannelCount(layer:expected:actual:)`` (also without affine parameters,
/// where PyTorch only warns), ``NormError/tooFewSpatialElements(shape:)``.
public class InstanceNorm<Scalar: NormScalar>: NormalizationLayer<Scalar> {
    /// C, the number of channels.
    public let numFeatures: Int
    /// m of r ← (1 − m)·r + m·s; `nil` counts as 0, as in PyTorch.
    public let momentum: Double?
    /// Whether γ and β are learnable parameters.
    public let affine: Bool
    /// Whether training updates running statistics that eval mode normalizes with.
    public let trackRunningStats: Bool
    /// The rank of an input without a batch dimension.
    let unbatchedRank: Int

    init(numFeatures: Int, eps: Double, momentum: Double?, affine: Bool, trackRunningStats: Bool, unbatchedRank: Int) {
        self.numFeatures = numFeatures
        self.momentum = momentum
        self.affine = affine
        self.trackRunningStats = trackRunningStats
        self.unbatchedRank = unbatchedRank
        super.init(eps: eps, parameterShape: [numFeatures], affine: affine,
                   trackingChannels: trackRunningStats ? numFeatures : nil)
    }

    override var configurationDescription: String {
        "\(numFeatures), eps: \(eps), momentum: \(momentum.map { "\($0)" } ?? "nil"), affine: \(affine), "
            + "trackRunningStats: \(trackRunningStats)"
    }

    override var ignoredStateDictKeys: Set<String> {
        trackRunningStats ? [] : ["running_mean", "running_var"]
    }

    override func forward<Input: NormScalar>(_ input: Tensor<Input>) throws -> (output: Tensor<Input>, saved: SavedForward)
    where Input.ComputeScalar == Scalar.ComputeScalar {
        try checkRank(input, [unbatchedRank, unbatchedRank + 1])
        let batched = input.rank == unbatchedRank ? try input.reshaped(to: [1] + input.shape) : input
        try checkChannels(batched, axis: 1, expected: numFeatures)
        let result = try Functional.instanceNormForward(
            batched, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
            useInputStatistics: isTraining || !trackRunningStats, momentum: momentum ?? 0, eps: eps)
        if isTraining && trackRunningStats {
            runningMean = result.runningMean
            runningVar = result.runningVar
        }
        // An unbatched input went through the engine row-major; hand it back in its own format.
        return (try result.output.reshaped(to: input.shape).withMemoryFormat(input.memoryFormat),
                SavedForward(input: batched, saved: result.saved, weight: weight, outputShape: input.shape,
                             callerFormat: input.memoryFormat))
    }
}

/// InstanceNorm over `(N, C, L)` or `(C, L)` inputs. See ``InstanceNorm``.
public final class InstanceNorm1d<Scalar: NormScalar>: InstanceNorm<Scalar> {
    /// Creates a InstanceNorm1d layer with C = `numFeatures` channels, accepting `(N, C, L)` or `(C, L)` inputs.
    ///
    /// - Parameters:
    ///   - numFeatures: C, the size of the channel dimension (dimension 1, or 0 without a batch).
    ///   - eps: ε, added to the variance before the square root; default 1e-5.
    ///   - momentum: m of r ← (1 − m)·r + m·s for the running statistics; default 0.1; `nil`
    ///     counts as 0 (the running statistics never move), as in PyTorch.
    ///   - affine: whether γ (ones) and β (zeros), shape `[C]`, are learnable; default `false`.
    ///   - trackRunningStats: whether training updates running statistics that eval mode then
    ///     normalizes with; default `false`.
    ///
    /// A negative `numFeatures` becomes ``NormalizationLayer/configurationError``.
    public init(numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = false,
                trackRunningStats: Bool = false) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine,
                   trackRunningStats: trackRunningStats, unbatchedRank: 2)
    }
}

/// InstanceNorm over `(N, C, H, W)` or `(C, H, W)` inputs. See ``InstanceNorm``.
public final class InstanceNorm2d<Scalar: NormScalar>: InstanceNorm<Scalar> {
    /// Creates a InstanceNorm2d layer with C = `numFeatures` channels, accepting `(N, C, H, W)` or `(C, H, W)` inputs.
    ///
    /// - Parameters:
    ///   - numFeatures: C, the size of the channel dimension (dimension 1, or 0 without a batch).
    ///   - eps: ε, added to the variance before the square root; default 1e-5.
    ///   - momentum: m of r ← (1 − m)·r + m·s for the running statistics; default 0.1; `nil`
    ///     counts as 0 (the running statistics never move), as in PyTorch.
    ///   - affine: whether γ (ones) and β (zeros), shape `[C]`, are learnable; default `false`.
    ///   - trackRunningStats: whether training updates running statistics that eval mode then
    ///     normalizes with; default `false`.
    ///
    /// A negative `numFeatures` becomes ``NormalizationLayer/configurationError``.
    public init(numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = false,
                trackRunningStats: Bool = false) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine,
                   trackRunningStats: trackRunningStats, unbatchedRank: 3)
    }
}

/// InstanceNorm over `(N, C, D, H, W)` or `(C, D, H, W)` inputs. See ``InstanceNorm``.
public final class InstanceNorm3d<Scalar: NormScalar>: InstanceNorm<Scalar> {
    /// Creates a InstanceNorm3d layer with C = `numFeatures` channels, accepting `(N, C, D, H, W)` or `(C, D, H, W)` inputs.
    ///
    /// - Parameters:
    ///   - numFeatures: C, the size of the channel dimension (dimension 1, or 0 without a batch).
    ///   - eps: ε, added to the variance before the square root; default 1e-5.
    ///   - momentum: m of r ← (1 − m)·r + m·s for the running statistics; default 0.1; `nil`
    ///     counts as 0 (the running statistics never move), as in PyTorch.
    ///   - affine: whether γ (ones) and β (zeros), shape `[C]`, are learnable; default `false`.
    ///   - trackRunningStats: whether training updates running statistics that eval mode then
    ///     normalizes with; default `false`.
    ///
    /// A negative `numFeatures` becomes ``NormalizationLayer/configurationError``.
    public init(numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = false,
                trackRunningStats: Bool = false) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine,
                   trackRunningStats: trackRunningStats, unbatchedRank: 4)
    }
}
