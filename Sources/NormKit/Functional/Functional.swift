/// The functional core: stateless forward functions that return the output with the statistics
/// saved for the backward pass, and one backward function that takes them.
///
/// The layers in `Layers/` are thin wrappers over these functions; another Swift framework can
/// call them directly. Nothing here mutates its arguments: updated running statistics are
/// returned, never written in place (``batchNormInference(_:runningMean:runningVar:weight:bias:eps:)``
/// normalizes a tensor the caller hands over, in place).
///
/// Inputs may be row-major or channels-last (``MemoryFormat``); outputs and input gradients
/// come back in the input's format.
public enum Functional {}

/// What a forward pass saves for its backward pass: the mean and inverse standard deviation of
/// each statistic group, in `Double`, and how they were obtained. The input itself is needed
/// again by the backward pass; no normalized copy of it is kept.
public struct SavedStatistics<Scalar: NormScalar>: Sendable {
    /// The mean of each statistic group (zero for RMSNorm).
    public let mean: [Double]
    /// 1 / √(var + ε) of each statistic group (1 / √(mean(x²) + ε) for RMSNorm).
    public let invstd: [Double]
    /// `true` when the statistics were computed from the input, so that gradients flow through
    /// them; `false` when they were constants (running statistics in eval mode).
    public let usesBatchStatistics: Bool

    let geometry: NormalizationGeometry
    let centered: Bool
    /// The input shape the statistics belong to.
    let inputShape: [Int]
    /// The shape of the affine parameters: the normalized shape for LayerNorm and RMSNorm, `nil`
    /// for `[C]`.
    var normalizedShape: [Int]? = nil

    /// The shape a weight must have for these statistics.
    var parameterShape: [Int] { normalizedShape ?? [geometry.channels] }

    /// The memory format the kernels read the input in.
    var kernelFormat: MemoryFormat { geometry.layout == .channelsLast ? .channelsLast : .contiguous }

    /// How the backward pass treats these statistics.
    var gradientMode: GradientMode { usesBatchStatistics ? .batch(centered: centered) : .constant }
}

/// A forward pass's result: the output and what its backward pass needs.
public struct NormalizationResult<Scalar: NormScalar>: Sendable {
    /// y, with the input's shape and memory format.
    public let output: Tensor<Scalar>
    /// What ``Functional/normalizationBackward(gradOutput:input:saved:weight:needsAffineGradients:)`` needs.
    public let saved: SavedStatistics<Scalar>
}

/// A BatchNorm or InstanceNorm forward result, with the running statistics after the update
/// (`nil` where no running statistics were given or none were updated).
public struct RunningNormalizationResult<Scalar: NormScalar>: Sendable {
    /// y, with the input's shape and memory format.
    public let output: Tensor<Scalar>
    /// What ``Functional/normalizationBackward(gradOutput:input:saved:weight:needsAffineGradients:)`` needs.
    public let saved: SavedStatistics<Scalar>
    /// The running mean after r ← (1 − m)·r + m·s, `[C]`; the one given when nothing moved.
    public let runningMean: Tensor<Scalar>?
    /// The running (unbiased) variance after the update, `[C]`; the one given when nothing moved.
    public let runningVar: Tensor<Scalar>?
}

/// A forward result inside NormKit, where the parameters and running statistics may have another
/// type than the input: a `Float` layer on `Float16` input keeps them in `Float` (PyTorch's
/// mixed path). The public functions return it as ``NormalizationResult`` or
/// ``RunningNormalizationResult``, with one type.
struct ForwardResult<Input: NormScalar, Parameter: NormScalar> {
    let output: Tensor<Input>
    let saved: SavedStatistics<Input>
    var runningMean: Tensor<Parameter>? = nil
    var runningVar: Tensor<Parameter>? = nil
}

extension ForwardResult where Input == Parameter {
    var normalization: NormalizationResult<Input> { NormalizationResult(output: output, saved: saved) }
    var running: RunningNormalizationResult<Input> {
        RunningNormalizationResult(output: output, saved: saved, runningMean: runningMean, runningVar: runningVar)
    }
}

extension SavedStatistics {
    /// The same statistics tagged with another scalar type (they are all `Double`).
    func retyped<Other: NormScalar>(as _: Other.Type = Other.self) -> SavedStatistics<Other> {
        SavedStatistics<Other>(mean: mean, invstd: invstd, usesBatchStatistics: usesBatchStatistics, geometry: geometry,
                               centered: centered, inputShape: inputShape, normalizedShape: normalizedShape)
    }
}

/// The gradients of a normalization: of its input, and of its weight and bias when it has them.
public struct NormalizationGradients<Scalar: NormScalar>: Sendable {
    /// ∂L/∂x, with the input's shape and memory format.
    public let input: Tensor<Scalar>
    /// ∂L/∂γ = Σ dy·x̂, the weight's shape; `nil` without a weight or when not requested.
    public let weight: Tensor<Scalar>?
    /// ∂L/∂β = Σ dy, the weight's shape; `nil` when not requested.
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
    ///   - gradOutput: ∂L/∂y, the shape of the forward output, in either memory format.
    ///   - input: the forward pass's input.
    ///   - saved: the forward pass's saved statistics.
    ///   - weight: the weight γ the forward pass used, if any.
    ///   - needsAffineGradients: whether to return weight and bias gradients.
    /// - Returns: the input gradient in the input's memory format, and the weight and bias
    ///   gradients.
    /// - Throws: ``NormError/gradientShapeMismatch(expected:actual:)`` when `gradOutput` does not
    ///   have the shape of the forward output, and
    ///   ``NormError/argumentShapeMismatch(argument:expected:actual:)`` when `input` does not have
    ///   the shape of the forward input or `weight` not that of the forward weight (`[C]`, or the
    ///   normalized shape).
    public static func normalizationBackward<Scalar: NormScalar>(
        gradOutput: Tensor<Scalar>, input: Tensor<Scalar>, saved: SavedStatistics<Scalar>,
        weight: Tensor<Scalar>?, needsAffineGradients: Bool = true
    ) throws -> NormalizationGradients<Scalar> {
        let gradients = try backward(gradOutput: gradOutput, input: input, saved: saved, weight: weight,
                                     needsAffineGradients: needsAffineGradients)
        return NormalizationGradients(input: gradients.input, weight: gradients.weight, bias: gradients.bias)
    }

    /// ``normalizationBackward(gradOutput:input:saved:weight:needsAffineGradients:)`` with
    /// parameters of another type than the input (see ``ForwardResult``): the parameter
    /// gradients come back in the parameters' type.
    static func backward<Input: NormScalar, Parameter: NormScalar>(
        gradOutput: Tensor<Input>, input: Tensor<Input>, saved: SavedStatistics<Input>,
        weight: Tensor<Parameter>?, needsAffineGradients: Bool
    ) throws -> (input: Tensor<Input>, weight: Tensor<Parameter>?, bias: Tensor<Parameter>?)
    where Parameter.ComputeScalar == Input.ComputeScalar {
        try checkGradientShapes(gradOutput: gradOutput, input: input, saved: saved)
        try checkPerChannel(weight, named: "weight", shape: saved.parameterShape)
        let geometry = saved.geometry
        let format = saved.kernelFormat
        let response = Kernels.call(KernelCall<Input>.Request.backward(
            input: input.withMemoryFormat(format).storage, gradOutput: gradOutput.withMemoryFormat(format).storage,
            geometry: geometry, mean: saved.mean, invstd: saved.invstd, weight: weight.map(kernelParameter),
            mode: saved.gradientMode, channelSums: needsAffineGradients))
        guard case let .gradient(gradInput, sums) = response else { fatalError("kernel response") }
        let channelSums = needsAffineGradients ? sums : nil
        return (input: Tensor(uncheckedShape: input.shape, storage: gradInput, memoryFormat: format).withMemoryFormat(input.memoryFormat),
                weight: channelSums.map { affineGradient($0.sumGradOutputTimesNormalized, like: weight) },
                bias: channelSums.map { affineGradient($0.sumGradOutput, like: weight) })
    }

    static func checkGradientShapes<Scalar: NormScalar>(
        gradOutput: Tensor<Scalar>, input: Tensor<Scalar>, saved: SavedStatistics<Scalar>
    ) throws {
        guard input.shape == saved.inputShape else {
            throw NormError.argumentShapeMismatch(argument: "input", expected: saved.inputShape, actual: input.shape)
        }
        guard gradOutput.shape == saved.inputShape else {
            throw NormError.gradientShapeMismatch(expected: saved.inputShape, actual: gradOutput.shape)
        }
    }

    /// A parameter's elements as the kernels take them: in row-major order (a LayerNorm weight
    /// of rank 3 or more may arrive channels-last), in the type they compute in (`Float` for a
    /// 16-bit layer's parameters).
    static func kernelParameter<Scalar: NormScalar>(_ tensor: Tensor<Scalar>) -> [Scalar.ComputeScalar] {
        Kernels.computeValues(tensor.withMemoryFormat(.contiguous).storage)
    }

    /// A per-channel gradient shaped like the weight it belongs to (a LayerNorm weight keeps its
    /// normalized shape).
    static func affineGradient<Scalar: NormScalar>(_ sums: [Double], like weight: Tensor<Scalar>?) -> Tensor<Scalar> {
        Tensor(uncheckedShape: weight?.shape ?? [sums.count], scalars: Kernels.scalars(sums))
    }

    /// Checks that an optional parameter (weight, bias, running statistic) has `shape`.
    static func checkPerChannel<Scalar: NormScalar>(
        _ tensor: Tensor<Scalar>?, named name: String, shape: [Int]
    ) throws {
        if let tensor, tensor.shape != shape {
            throw NormError.argumentShapeMismatch(argument: name, expected: shape, actual: tensor.shape)
        }
    }

    /// Checks the running statistics, weight and bias of BatchNorm and InstanceNorm: each `[C]`
    /// or absent.
    static func checkPerChannelArguments<Scalar: NormScalar>(
        _ runningMean: Tensor<Scalar>?, _ runningVar: Tensor<Scalar>?, _ weight: Tensor<Scalar>?, _ bias: Tensor<Scalar>?,
        channels: Int
    ) throws {
        for (tensor, name) in [(runningMean, "running_mean"), (runningVar, "running_var"), (weight, "weight"), (bias, "bias")] {
            try checkPerChannel(tensor, named: name, shape: [channels])
        }
    }

    /// The engine's layout for an input of `format`.
    static func layout(of format: MemoryFormat) -> NormalizationGeometry.Layout {
        format == .channelsLast ? .channelsLast : .channelsFirst
    }

    /// Forward through the engine with statistics computed from the input (stored as the
    /// geometry's layout says).
    static func normalizeWithInputStatistics<Input: NormScalar, Parameter: NormScalar>(
        _ input: Tensor<Input>, geometry: NormalizationGeometry, centered: Bool,
        weight: Tensor<Parameter>?, bias: Tensor<Parameter>?, eps: Double
    ) -> (result: ForwardResult<Input, Parameter>, moments: Moments) where Parameter.ComputeScalar == Input.ComputeScalar {
        let response = Kernels.call(KernelCall<Input>.Request.normalizeWithBatchStatistics(
            input: input.storage, geometry: geometry, centered: centered, weight: weight.map(kernelParameter),
            bias: bias.map(kernelParameter), eps: eps))
        guard case let .output(output, moments?, invstd?) = response else { fatalError("kernel response") }
        let saved = SavedStatistics<Input>(
            mean: moments.mean, invstd: invstd, usesBatchStatistics: true,
            geometry: geometry, centered: centered, inputShape: input.shape)
        let tensor = Tensor(uncheckedShape: input.shape, storage: output, memoryFormat: input.memoryFormat)
        return (ForwardResult(output: tensor, saved: saved), moments)
    }

    /// Forward through the engine with per-channel constant statistics (running statistics).
    static func normalizeWithRunningStatistics<Input: NormScalar, Parameter: NormScalar>(
        _ input: __owned Tensor<Input>, geometry: NormalizationGeometry,
        runningMean: Tensor<Parameter>, runningVar: Tensor<Parameter>,
        weight: Tensor<Parameter>?, bias: Tensor<Parameter>?, eps: Double, inPlace: Bool = false
    ) -> ForwardResult<Input, Parameter> where Parameter.ComputeScalar == Input.ComputeScalar {
        let saved = SavedStatistics<Input>(
            mean: Kernels.doubles(runningMean.storage), invstd: constantInverseStandardDeviation(runningVar, eps: eps),
            usesBatchStatistics: false, geometry: geometry, centered: true, inputShape: input.shape)
        return normalize(input, saved: saved, weight: weight, bias: bias, inPlace: inPlace)
    }

    /// 1/√(r_σ² + ε) per channel for normalizing with running statistics. Where it is infinite
    /// (r_σ² + ε = 0, say a dead channel with running_var 0 and eps 0) it is NaN, so that every
    /// output of that channel is NaN, as in PyTorch, whose x·(1/σ) − μ·(1/σ) is ∞ − ∞ there;
    /// (x − μ)·∞ would give ±∞ and a 0·∞ NaN only where x = μ.
    static func constantInverseStandardDeviation<Scalar: NormScalar>(_ runningVar: Tensor<Scalar>, eps: Double) -> [Double] {
        Kernels.doubles(runningVar.storage).map { variance in
            let r = 1 / (variance + eps).squareRoot()
            return r.isInfinite ? .nan : r
        }
    }

    /// Normalizes with statistics already known (`saved`) into a new tensor or, `inPlace`, into
    /// `input`'s storage (copied first only if someone else still holds it).
    static func normalize<Input: NormScalar, Parameter: NormScalar>(
        _ input: __owned Tensor<Input>, saved: SavedStatistics<Input>, weight: Tensor<Parameter>?, bias: Tensor<Parameter>?,
        inPlace: Bool = false
    ) -> ForwardResult<Input, Parameter> where Parameter.ComputeScalar == Input.ComputeScalar {
        let shape = input.shape, format = input.memoryFormat
        let response = Kernels.call(KernelCall<Input>.Request.normalize(
            input: input.storage, geometry: saved.geometry, mean: saved.mean, invstd: saved.invstd,
            weight: weight.map(kernelParameter), bias: bias.map(kernelParameter), inPlace: inPlace))
        guard case let .output(output, _, _) = response else { fatalError("kernel response") }
        return ForwardResult(output: Tensor(uncheckedShape: shape, storage: output, memoryFormat: format), saved: saved)
    }
}
