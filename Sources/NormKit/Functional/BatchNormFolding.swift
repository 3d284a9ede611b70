import Foundation

extension Functional {
    /// Folds an eval-mode BatchNorm that follows a convolution into the convolution's weight and
    /// bias, as PyTorch's `torch.nn.utils.fusion.fuse_conv_bn_weights`.
    ///
    /// With s_c = γ_c / √(r_σ²_c + ε) for each output channel c of the convolution:
    ///
    ///     W′[c, …] = W[c, …] · s_c          b′_c = (b_c − r_μ_c) · s_c + β_c
    ///
    /// so that conv(x; W′, b′) = BatchNorm_eval(conv(x; W, b)) for every input x. The arithmetic
    /// runs in `Double` and the results are rounded once to `Scalar` (PyTorch computes in the
    /// weight's dtype, so Float results may differ from its by an ulp or two).
    ///
    /// - Parameters:
    ///   - convWeight: the convolution's weight, rank 2 or more (Conv1d, Conv2d, Conv3d, …), in
    ///     either memory format. For a convolution, `[C, Cin/groups, k…]`: dimension 0 holds the
    ///     C output channels and is scaled. For a transposed convolution, `[Cin, C/groups, k…]`:
    ///     dimension 1 holds the output channels of one group. With `groups` = C / `shape[1]`
    ///     (inferred; it must divide both C and Cin), the weight row of input channel i and
    ///     column j belongs to output channel (i / (Cin/groups))·(C/groups) + j.
    ///   - convBias: `[C]`, or `nil` for a convolution without bias (b = 0).
    ///   - runningMean: the BatchNorm's running mean r_μ, `[C]`; C is its length.
    ///   - runningVar: the BatchNorm's running variance r_σ², `[C]`.
    ///   - eps: ε, added to the running variance; default 1e-5.
    ///   - weight: the BatchNorm's γ, `[C]`, or `nil` without affine parameters (γ = 1).
    ///   - bias: the BatchNorm's β, `[C]`, or `nil` without affine parameters (β = 0).
    ///   - transposed: whether `convWeight` belongs to a transposed convolution
    ///     (`ConvTranspose1d/2d/3d`); default `false`.
    /// - Returns: the folded weight, with `convWeight`'s shape and memory format, and the folded
    ///   bias, `[C]`; always a bias, even when `convBias` is `nil`.
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` when `convWeight` has rank
    ///   below 2, when its output-channel dimension does not match C (for a transposed weight:
    ///   does not divide C into groups that also divide Cin), or when r_σ² + ε is not a positive
    ///   number in some channel; ``NormError/argumentShapeMismatch(argument:expected:actual:)``
    ///   when `convBias`, `runningVar`, `weight` or `bias` is not `[C]`, C being `runningMean`'s
    ///   length (`runningMean` itself must have rank 1).
    ///
    /// Unlike PyTorch, a grouped transposed convolution folds correctly: PyTorch scales
    /// dimension 1 by all C factors, which fails or gives a weight of the wrong shape once
    /// groups > 1.
    public static func fuseConvBatchNorm<Scalar: NormScalar>(
        convWeight: Tensor<Scalar>, convBias: Tensor<Scalar>?, runningMean: Tensor<Scalar>, runningVar: Tensor<Scalar>,
        eps: Double = 1e-5, weight: Tensor<Scalar>?, bias: Tensor<Scalar>?, transposed: Bool = false
    ) throws -> (weight: Tensor<Scalar>, bias: Tensor<Scalar>) {
        let folding = try BatchNormFolding(runningMean: runningMean, runningVar: runningVar, eps: eps,
                                           weight: weight, bias: bias)
        let channels = folding.channels
        let shape = convWeight.shape
        let layout = transposed ? "[Cin, C/groups, k…]" : "[C, Cin/groups, k…]"
        guard shape.count >= 2 else {
            throw NormError.invalidArgument(name: "convWeight", expected: "a tensor of rank 2 or more, \(layout)",
                                            actual: "shape \(shape)")
        }
        try checkPerChannel(convBias, named: "convBias", shape: [channels])
        // The weight as (rows, columns, kernel) in row-major order; each (row, column) pair is
        // one output channel's slice of `kernel` elements.
        let kernel = Tensor<Scalar>.checkedElementCount(shape.dropFirst(2)) ?? 0
        let channelOf: (_ row: Int, _ column: Int) -> Int
        if transposed {
            let perGroup = shape[1]
            guard perGroup > 0
                ? channels % perGroup == 0 && channels >= perGroup && shape[0] % (channels / perGroup) == 0 : channels == 0
            else {
                throw NormError.invalidArgument(
                    name: "convWeight", expected: "\(layout) with C/groups in dimension 1 dividing the BatchNorm's "
                        + "\(channels) channels into groups that also divide Cin (dimension 0)", actual: "shape \(shape)")
            }
            let inputsPerGroup = perGroup > 0 ? shape[0] / (channels / perGroup) : 0
            channelOf = { row, column in (row / inputsPerGroup) * perGroup + column }
        } else {
            guard shape[0] == channels else {
                throw NormError.invalidArgument(
                    name: "convWeight", expected: "\(layout) with the BatchNorm's \(channels) channels in dimension 0",
                    actual: "shape \(shape)")
            }
            channelOf = { row, _ in row }
        }
        var folded = Kernels.doubles(convWeight.withMemoryFormat(.contiguous).storage)
        var offset = 0
        // An empty weight (a kernel dimension of 0) has nothing to scale, however long its other
        // dimensions: no loop over them.
        for row in 0..<(folded.isEmpty ? 0 : shape[0]) {
            for column in 0..<shape[1] {
                let factor = folding.scale[channelOf(row, column)]
                for i in offset..<(offset + kernel) { folded[i] *= factor }
                offset += kernel
            }
        }
        let foldedWeight = Tensor<Scalar>(uncheckedShape: shape, scalars: Kernels.scalars(folded))
        return (foldedWeight.withMemoryFormat(convWeight.memoryFormat), folding.foldedBias(after: convBias))
    }

    /// Folds an eval-mode BatchNorm that follows a linear layer into the linear layer's weight
    /// and bias, as PyTorch's `torch.nn.utils.fusion.fuse_linear_bn_weights`.
    ///
    /// With s_c = γ_c / √(r_σ²_c + ε):  W′[o, :] = W[o, :] · s_o  and  b′_o = (b_o − r_μ_o) · s_o + β_o,
    /// so that W′x + b′ = BatchNorm_eval(Wx + b). A BatchNorm with one feature (C = 1) applies its
    /// single s, r_μ and β to every output, as PyTorch's broadcasting does (a `BatchNorm1d(1)` over
    /// `(N, 1, out)` outputs). Arithmetic in `Double`, rounded once to `Scalar`.
    ///
    /// - Parameters:
    ///   - linearWeight: `[out, in]`, the layout of PyTorch's `nn.Linear.weight`.
    ///   - linearBias: `[out]`, or `nil` (b = 0).
    ///   - runningMean: the BatchNorm's running mean r_μ, `[C]` with C = out or C = 1.
    ///   - runningVar: the BatchNorm's running variance r_σ², `[C]`.
    ///   - eps: ε; default 1e-5.
    ///   - weight: γ, `[C]`, or `nil` (γ = 1; PyTorch's function requires it).
    ///   - bias: β, `[C]`, or `nil` (β = 0; PyTorch's function requires it).
    /// - Returns: the folded weight `[out, in]` and the folded bias `[out]` (PyTorch returns a
    ///   `[1]` bias when C = 1 and there is no linear bias; `[out]` is what it broadcasts to).
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` when `linearWeight` is not
    ///   of rank 2, when C is neither `out` nor 1, or when r_σ² + ε is not a positive number;
    ///   ``NormError/argumentShapeMismatch(argument:expected:actual:)`` when `linearBias` is not
    ///   `[out]` or a BatchNorm tensor is not `[C]`.
    public static func fuseLinearBatchNorm<Scalar: NormScalar>(
        linearWeight: Tensor<Scalar>, linearBias: Tensor<Scalar>?, runningMean: Tensor<Scalar>, runningVar: Tensor<Scalar>,
        eps: Double = 1e-5, weight: Tensor<Scalar>?, bias: Tensor<Scalar>?
    ) throws -> (weight: Tensor<Scalar>, bias: Tensor<Scalar>) {
        let folding = try BatchNormFolding(runningMean: runningMean, runningVar: runningVar, eps: eps,
                                           weight: weight, bias: bias)
        let shape = linearWeight.shape
        guard shape.count == 2, shape[0] == folding.channels || folding.channels == 1 else {
            throw NormError.invalidArgument(
                name: "linearWeight", expected: "[out, in] with out equal to the BatchNorm's \(folding.channels) "
                    + "features\(folding.channels == 1 ? "" : " (or a BatchNorm of 1 feature)")", actual: "shape \(shape)")
        }
        let (outputs, inputs) = (shape[0], shape[1])
        try checkPerChannel(linearBias, named: "linearBias", shape: [outputs])
        // The folded bias has `out` elements even when the weight is empty ([out, 0]): refuse
        // one that could not be held, as a tensor of that size could not be made.
        let memory = ProcessInfo.processInfo.physicalMemory
        guard outputs <= linearWeight.count || UInt64(outputs) <= memory / 8 else {
            throw NormError.invalidArgument(
                name: "linearWeight", expected: "at most \(memory / 8) outputs, so that the folded bias of out values fits "
                    + "this machine's \(memory) bytes of memory", actual: "shape \(shape)")
        }
        let broadcast = folding.broadcast(to: outputs)
        var folded = Kernels.doubles(linearWeight.storage)
        for row in 0..<(folded.isEmpty ? 0 : outputs) {
            for i in (row * inputs)..<((row + 1) * inputs) { folded[i] *= broadcast.scale[row] }
        }
        return (Tensor(uncheckedShape: shape, scalars: Kernels.scalars(folded)), broadcast.foldedBias(after: linearBias))
    }
}

/// The per-channel terms of BatchNorm folding, in `Double`: s = γ / √(r_σ² + ε), r_μ and β,
/// so that BatchNorm_eval(z) = (z − r_μ)·s + β.
struct BatchNormFolding {
    var scale: [Double]
    var mean: [Double]
    var beta: [Double]

    var channels: Int { scale.count }

    /// Checks the BatchNorm tensors (all `[C]`, C from `runningMean`) and r_σ² + ε > 0.
    init<Scalar: NormScalar>(runningMean: Tensor<Scalar>, runningVar: Tensor<Scalar>, eps: Double,
                             weight: Tensor<Scalar>?, bias: Tensor<Scalar>?) throws {
        guard runningMean.rank == 1 else {
            throw NormError.invalidArgument(name: "running_mean", expected: "a tensor of shape [C]",
                                            actual: "shape \(runningMean.shape)")
        }
        let channels = runningMean.count
        try Functional.checkPerChannelArguments(runningMean, runningVar, weight, bias, channels: channels)
        let variance = Kernels.doubles(runningVar.storage)
        if let bad = variance.firstIndex(where: { !($0 + eps > 0) || !($0 + eps).isFinite }) {
            throw NormError.invalidArgument(
                name: "running_var", expected: "such that running_var + eps is a positive finite number in every channel",
                actual: "running_var[\(bad)] = \(variance[bad]) with eps = \(eps)")
        }
        let gamma = weight.map { Kernels.doubles($0.storage) } ?? Array(repeating: 1, count: channels)
        beta = bias.map { Kernels.doubles($0.storage) } ?? Array(repeating: 0, count: channels)
        mean = Kernels.doubles(runningMean.storage)
        scale = (0..<channels).map { gamma[$0] / (variance[$0] + eps).squareRoot() }
    }

    /// The terms of one channel repeated `count` times (a one-feature BatchNorm after a layer
    /// of `count` outputs), or these terms when there are already `count`.
    func broadcast(to count: Int) -> BatchNormFolding {
        guard channels == 1, count != 1 else { return self }
        var result = self
        (result.scale, result.mean, result.beta) = (Array(repeating: scale[0], count: count),
                                                    Array(repeating: mean[0], count: count),
                                                    Array(repeating: beta[0], count: count))
        return result
    }

    /// b′ = (b − r_μ)·s + β for the preceding layer's bias b (zeros when `nil`), computed in
    /// PyTorch's order.
    func foldedBias<Scalar: NormScalar>(after bias: Tensor<Scalar>?) -> Tensor<Scalar> {
        let b = bias.map { Kernels.doubles($0.storage) } ?? Array(repeating: 0, count: channels)
        let folded = (0..<channels).map { (b[$0] - mean[$0]) * scale[$0] + beta[$0] }
        return Tensor(uncheckedShape: [channels], scalars: Kernels.scalars(folded))
    }
}
