/// The functional core: stateless forward functions that return the output with the statistics
/// saved for the backward pass, and one backward function that takes them.
///
/// The layers in `Layers/` are thin wrappers over these functions; another Swift framework can
/// call them directly. Nothing here mutates its arguments: updated running statistics are
/// returned, never written in place.
public enum Functional {}

/// What a forward pass saves for its backward pass: the mean and inverse standard deviation of
/// each statistic group, in the accumulator type, and how they were obtained. The input itself is
/// needed again by the backward pass; no normalized copy of it is kept.
public struct SavedStatistics<Scalar: NormScalar>: Sendable {
    /// The mean of each statistic group (zero for RMSNorm).
    public let mean: [Scalar.Accumulator]
    /// 1 / √(var + ε) of each statistic group (1 / √(mean(x²) + ε) for RMSNorm).
    public let invstd: [Scalar.Accumulator]
    /// `true` when the statistics were computed from the input, so that gradients flow through
    /// them; `false` when they were constants (running statistics in eval mode).
    public let usesBatchStatistics: Bool

    let geometry: NormalizationGeometry
    let centered: Bool
    /// The input shape the statistics belong to.
    let inputShape: [Int]
}

/// A forward pass's result: the output and what its backward pass needs.
public struct NormalizationResult<Scalar: NormScalar>: Sendable {
    public let output: Tensor<Scalar>
    public let saved: SavedStatistics<Scalar>
}

/// A BatchNorm or InstanceNorm forward result, with the running statistics after the update
/// (`nil` where no running statistics were given or none were updated).
public struct RunningNormalizationResult<Scalar: NormScalar>: Sendable {
    public let output: Tensor<Scalar>
    public let saved: SavedStatistics<Scalar>
    public let runningMean: Tensor<Scalar>?
    public let runningVar: Tensor<Scalar>?
}

/// The gradients of a normalization: of its input, and of its weight and bias when it has them.
public struct NormalizationGradients<Scalar: NormScalar>: Sendable {
    public let input: Tensor<Scalar>
    public let weight: Tensor<Scalar>?
    public let bias: Tensor<Scalar>?
}

extension Functional {
    /// The backward pass of every normalization in NormKit.
    ///
    /// With batch statistics, for each statistic group of `M` elements and g = γ·dy:
    /// dx = invstd · (g − mean(g) − x̂ · mean(g·x̂)), with x̂ = (x − μ)·invstd (RMSNorm drops the
    /// mean(g) term). With constant statistics, dx = invstd · γ · dy.
    /// Always: ∂L/∂γ = Σ dy·x̂ and ∂L/∂β = Σ dy over everything but the channel.
    ///
    /// - Parameters:
    ///   - gradOutput: ∂L/∂y, the shape of the forward output.
    ///   - input: the forward pass's input.
    ///   - saved: the forward pass's saved statistics.
    ///   - weight: the weight γ the forward pass used, if any.
    ///   - needsAffineGradients: whether to return weight and bias gradients.
    /// - Throws: ``NormError/gradientShapeMismatch(expected:actual:)`` when `gradOutput` or
    ///   `input` does not have the shape of the forward input.
    public static func normalizationBackward<Scalar: NormScalar>(
        gradOutput: Tensor<Scalar>, input: Tensor<Scalar>, saved: SavedStatistics<Scalar>,
        weight: Tensor<Scalar>?, needsAffineGradients: Bool = true
    ) throws -> NormalizationGradients<Scalar> {
        try checkGradientShapes(gradOutput: gradOutput, input: input, saved: saved)
        let geometry = saved.geometry
        if let weight, weight.count != geometry.channels {
            throw NormError.stateShapeMismatch(key: "weight", expected: [geometry.channels], actual: weight.shape)
        }
        // The reduction pass feeds the weight and bias gradients and, with batch statistics, the
        // input gradient; eval mode without affine parameters needs neither, so skip its read.
        let pass = needsAffineGradients || saved.usesBatchStatistics
            ? Kernels.backwardSums(input: input.scalars, gradOutput: gradOutput.scalars, geometry: geometry,
                                   mean: saved.mean, invstd: saved.invstd, weight: weight?.scalars)
            : nil
        let gradInput = Kernels.inputGradient(
            input: input.scalars, gradOutput: gradOutput.scalars, geometry: geometry,
            mean: saved.mean, invstd: saved.invstd, weight: weight?.scalars,
            sums: saved.usesBatchStatistics ? pass.map { ($0.sumG, $0.sumGXhat, geometry.elementsPerStatistic) } : nil,
            centered: saved.centered)
        let channelSums = needsAffineGradients ? pass?.channel : nil
        return NormalizationGradients(
            input: Tensor(uncheckedShape: input.shape, scalars: gradInput),
            weight: channelSums.map { affineGradient($0.sumGradOutputTimesNormalized, like: weight) },
            bias: channelSums.map { affineGradient($0.sumGradOutput, like: weight) })
    }

    static func checkGradientShapes<Scalar: NormScalar>(
        gradOutput: Tensor<Scalar>, input: Tensor<Scalar>, saved: SavedStatistics<Scalar>
    ) throws {
        guard gradOutput.shape == saved.inputShape else {
            throw NormError.gradientShapeMismatch(expected: saved.inputShape, actual: gradOutput.shape)
        }
        guard input.shape == saved.inputShape else {
            throw NormError.gradientShapeMismatch(expected: saved.inputShape, actual: input.shape)
        }
    }

    /// A per-channel gradient shaped like the weight it belongs to (a LayerNorm weight keeps its
    /// normalized shape).
    static func affineGradient<Scalar: NormScalar>(
        _ sums: [Scalar.Accumulator], like weight: Tensor<Scalar>?
    ) -> Tensor<Scalar> {
        Tensor(uncheckedShape: weight?.shape ?? [sums.count], scalars: sums.map { Scalar($0) })
    }

    /// Checks that an optional per-channel tensor (weight, bias, running statistic) has `count`
    /// elements.
    static func checkPerChannel<Scalar: NormScalar>(
        _ tensor: Tensor<Scalar>?, named name: String, shape: [Int]
    ) throws {
        if let tensor, tensor.shape != shape {
            throw NormError.stateShapeMismatch(key: name, expected: shape, actual: tensor.shape)
        }
    }

    /// Forward through the engine with statistics computed from the input.
    static func normalizeWithInputStatistics<Scalar: NormScalar>(
        _ input: Tensor<Scalar>, geometry: NormalizationGeometry, centered: Bool,
        weight: Tensor<Scalar>?, bias: Tensor<Scalar>?, eps: Double
    ) -> (result: NormalizationResult<Scalar>, moments: Moments<Scalar.Accumulator>) {
        let moments = Kernels.moments(input.scalars, geometry: geometry, centered: centered)
        let invstd = moments.inverseStandardDeviation(eps: eps)
        let saved = SavedStatistics<Scalar>(
            mean: moments.mean, invstd: invstd, usesBatchStatistics: true,
            geometry: geometry, centered: centered, inputShape: input.shape)
        return (normalize(input, saved: saved, weight: weight, bias: bias), moments)
    }

    /// Forward through the engine with per-channel constant statistics (running statistics).
    static func normalizeWithRunningStatistics<Scalar: NormScalar>(
        _ input: Tensor<Scalar>, outer: Int, channels: Int, inner: Int,
        runningMean: Tensor<Scalar>, runningVar: Tensor<Scalar>,
        weight: Tensor<Scalar>?, bias: Tensor<Scalar>?, eps: Double
    ) -> NormalizationResult<Scalar> {
        typealias Acc = Scalar.Accumulator
        let geometry = NormalizationGeometry(outer: outer, channels: channels, inner: inner, grouping: .perChannel)
        let saved = SavedStatistics<Scalar>(
            mean: runningMean.scalars.map { Acc($0) },
            invstd: runningVar.scalars.map { 1 / (Acc($0) + Acc(eps)).squareRoot() },
            usesBatchStatistics: false, geometry: geometry, centered: true, inputShape: input.shape)
        return normalize(input, saved: saved, weight: weight, bias: bias)
    }

    static func normalize<Scalar: NormScalar>(
        _ input: Tensor<Scalar>, saved: SavedStatistics<Scalar>, weight: Tensor<Scalar>?, bias: Tensor<Scalar>?
    ) -> NormalizationResult<Scalar> {
        let output = Kernels.normalize(
            input.scalars, geometry: saved.geometry, mean: saved.mean, invstd: saved.invstd,
            weight: weight?.scalars, bias: bias?.scalars)
        return NormalizationResult(output: Tensor(uncheckedShape: input.shape, scalars: output), saved: saved)
    }
}
