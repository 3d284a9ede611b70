extension Functional {
    /// Batch normalization of an `(N, C, *)` input over every axis but the channel axis.
    ///
    /// y = (x − E[x]) / √(Var[x] + ε) · γ + β, with E and Var per channel over N and the spatial
    /// axes. With `training` (or without running statistics) the batch statistics are used, the
    /// variance biased (M2/n); the running statistics given are returned updated as
    /// r ← (1 − m)·r + m·s with the unbiased variance (see ``RunningStatistics``). Otherwise
    /// the running statistics normalize and are returned unchanged.
    ///
    /// An empty batch (N = 0) returns an empty output and leaves the running statistics as they
    /// were.
    ///
    /// - Parameters:
    ///   - input: `(N, C)` or `(N, C, L)`, `(N, C, H, W)`, `(N, C, D, H, W)`, … (rank ≥ 2), row-major
    ///     or channels-last; the output has the input's memory format.
    ///   - runningMean: the running mean, `[C]`, or `nil` (then `runningVar` must be `nil` too).
    ///   - runningVar: the running (unbiased) variance, `[C]`, or `nil` with `runningMean`.
    ///   - weight: γ, `[C]`, or `nil` (γ = 1).
    ///   - bias: β, `[C]`, or `nil` (β = 0).
    ///   - training: use batch statistics and update the running ones.
    ///   - momentum: m, the factor of the running-statistics update; default 0.1.
    ///   - eps: ε, added to the variance; default 1e-5.
    /// - Throws: ``NormError/rankTooSmall(layer:minimum:actual:)``,
    ///   ``NormError/argumentShapeMismatch(argument:expected:actual:)`` for parameters not of shape `[C]`,
    ///   ``NormError/tooFewValuesPerChannel(shape:)`` in training with one value per channel, and
    ///   ``NormError/invalidArgument(name:expected:actual:)`` for inference without running
    ///   statistics.
    public static func batchNorm<Scalar: NormScalar>(
        _ input: Tensor<Scalar>, runningMean: Tensor<Scalar>?, runningVar: Tensor<Scalar>?,
        weight: Tensor<Scalar>?, bias: Tensor<Scalar>?, training: Bool,
        momentum: Double = 0.1, eps: Double = 1e-5
    ) throws -> RunningNormalizationResult<Scalar> {
        try batchNormForward(input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                             training: training, momentum: momentum, eps: eps).running
    }

    /// ``batchNorm(_:runningMean:runningVar:weight:bias:training:momentum:eps:)`` with
    /// parameters and running statistics of another type than the input (see ``ForwardResult``).
    static func batchNormForward<Input: NormScalar, Parameter: NormScalar>(
        _ input: Tensor<Input>, runningMean: Tensor<Parameter>?, runningVar: Tensor<Parameter>?,
        weight: Tensor<Parameter>?, bias: Tensor<Parameter>?, training: Bool, momentum: Double, eps: Double
    ) throws -> ForwardResult<Input, Parameter> where Parameter.ComputeScalar == Input.ComputeScalar {
        let geometry = try channelGeometry(of: input, operation: "batch_norm", grouping: .perChannel)
        let channels = geometry.channels
        try checkPerChannelArguments(runningMean, runningVar, weight, bias, channels: channels)
        guard (runningMean == nil) == (runningVar == nil) else {
            throw NormError.invalidArgument(name: "running_mean and running_var", expected: "both given or both nil",
                                            actual: runningMean == nil ? "only running_var" : "only running_mean")
        }
        if !training {
            guard let runningMean, let runningVar else {
                throw NormError.invalidArgument(name: "running_mean", expected: "given when training is false", actual: "nil")
            }
            var result = normalizeWithRunningStatistics(
                input, geometry: geometry, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, eps: eps)
            (result.runningMean, result.runningVar) = (runningMean, runningVar)
            return result
        }
        if hasOneValuePerChannel(input.shape) { throw NormError.tooFewValuesPerChannel(shape: input.shape) }
        var (result, moments) = normalizeWithInputStatistics(
            input, geometry: geometry, centered: true, weight: weight, bias: bias, eps: eps)
        (result.runningMean, result.runningVar) = (runningMean, runningVar)
        if moments.count > 0, let runningMean, let runningVar {
            (result.runningMean, result.runningVar) = RunningStatistics.updated(
                mean: runningMean, variance: runningVar, toward: moments, factor: momentum)
        }
        return result
    }

    /// Batch normalization in eval mode, in place: `input` is normalized with the running
    /// statistics, y = (x − r_μ) / √(r_σ² + ε) · γ + β, without allocating an output when the
    /// caller holds the only reference to its storage. Shapes and errors as
    /// ``batchNorm(_:runningMean:runningVar:weight:bias:training:momentum:eps:)``.
    public static func batchNormInference<Scalar: NormScalar>(
        _ input: inout Tensor<Scalar>, runningMean: Tensor<Scalar>, runningVar: Tensor<Scalar>,
        weight: Tensor<Scalar>?, bias: Tensor<Scalar>?, eps: Double = 1e-5
    ) throws {
        let geometry = try channelGeometry(of: input, operation: "batch_norm", grouping: .perChannel)
        try checkPerChannelArguments(runningMean, runningVar, weight, bias, channels: geometry.channels)
        let owned = input
        input = Tensor(uncheckedShape: [0], scalars: [])
        input = normalizeWithRunningStatistics(owned, geometry: geometry, runningMean: runningMean, runningVar: runningVar,
                                               weight: weight, bias: bias, eps: eps, inPlace: true).output
    }

    /// Sees an `(N, C, *)` input as (N, C, ∏ *) in its memory format's layout.
    ///
    /// An empty input is seen as (0, C, 0): the kernels read no element and allocate nothing per
    /// sample, per-channel results keep their C entries, and no product of the sizes can overflow.
    /// (An empty tensor's other sizes may multiply past `Int.max`, as in `[0, 3, 2³², 2³²]` or
    /// `[Int.max, 0, 2]`; a non-empty tensor's cannot, since its element count fits.) Checks that
    /// depend on the sizes of an empty input look at its shape, not at this geometry.
    static func channelGeometry<Scalar: NormScalar>(
        of input: Tensor<Scalar>, operation: String, grouping: NormalizationGeometry.Grouping
    ) throws -> NormalizationGeometry {
        guard input.rank >= 2 else {
            throw NormError.rankTooSmall(layer: operation, minimum: 2, actual: input.rank)
        }
        let layout = layout(of: input.memoryFormat)
        guard input.count > 0 else {
            return NormalizationGeometry(outer: 0, channels: input.shape[1], inner: 0, grouping: grouping, layout: layout)
        }
        return NormalizationGeometry(outer: input.shape[0], channels: input.shape[1], inner: input.count / (input.shape[0] * input.shape[1]),
                                     grouping: grouping, layout: layout)
    }

    /// PyTorch's `_verify_batch_size`: training BatchNorm needs more than one value per channel,
    /// N·∏ spatial > 1. Read from the shape, so an empty input with huge sizes cannot overflow.
    static func hasOneValuePerChannel(_ shape: [Int]) -> Bool {
        shape[0] == 1 && shape.dropFirst(2).allSatisfy { $0 == 1 }
    }

    /// N·∏ spatial of an `(N, C, *)` shape, the values each channel pools over, whatever C is
    /// (saturating at `Int.max`, which only an empty tensor can reach).
    static func valuesPerChannel(_ shape: [Int]) -> Int {
        var product = 1
        for size in [shape[0]] + shape.dropFirst(2) {
            let (next, overflow) = product.multipliedReportingOverflow(by: size)
            product = overflow ? Int.max : next
        }
        return product
    }
}
