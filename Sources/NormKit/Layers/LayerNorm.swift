/// Layer normalization over the trailing `normalizedShape` dimensions.
/// Ba, Kiros & Hinton, "Layer Normalization", arXiv:1607.06450.
///
/// y = (x − E[x]) / √(Var[x] + ε) · γ + β, E and Var over the last `normalizedShape.count` axes
/// of each sample; γ and β have shape `normalizedShape` and apply elementwise. The layer behaves
/// the same in training and eval mode.
///
/// - Inputs: `(*, normalizedShape…)`.
/// - Options and defaults: `eps` 1e-5, `elementwiseAffine` true (γ = 1 learnable), `bias` true
///   (β = 0 learnable, only with `elementwiseAffine`).
/// - Errors: ``NormError/normalizedShapeMismatch(normalizedShape:inputShape:)``.
public final class LayerNorm<Scalar: NormScalar>: NormalizationLayer<Scalar> {
    /// The trailing dimensions normalized over, and the shape of γ and β.
    public let normalizedShape: [Int]
    /// Whether γ (and β, unless built with `bias: false`) are learnable parameters.
    public let elementwiseAffine: Bool
    /// Whether β was asked for (it exists only with `elementwiseAffine`).
    let hasBias: Bool

    /// Creates a LayerNorm over the trailing dimensions `normalizedShape` of `(*, normalizedShape…)` inputs.
    ///
    /// - Parameters:
    ///   - normalizedShape: the trailing dimensions normalized over (PyTorch's `normalized_shape`;
    ///     an `Int` there is `[n]` here).
    ///   - eps: ε, added to the variance before the square root; default 1e-5.
    ///   - elementwiseAffine: whether γ (ones, shape `normalizedShape`) is learnable; default `true`.
    ///   - bias: whether β (zeros) is learnable too; default `true`; ignored without `elementwiseAffine`.
    ///
    /// A `normalizedShape` with a negative size or an element count past `Int.max` becomes
    /// ``NormalizationLayer/configurationError``.
    public init(normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        self.normalizedShape = normalizedShape
        self.elementwiseAffine = elementwiseAffine
        self.hasBias = bias
        super.init(eps: eps, parameterShape: normalizedShape, sizeName: nil, affine: elementwiseAffine, affineBias: bias,
                   trackingChannels: nil)
    }

    override var configurationDescription: String {
        "\(normalizedShape), eps: \(eps), elementwiseAffine: \(elementwiseAffine), bias: \(elementwiseAffine && hasBias)"
    }

    override func forward<Input: NormScalar>(_ input: Tensor<Input>) throws -> (output: Tensor<Input>, saved: SavedForward)
    where Input.ComputeScalar == Scalar.ComputeScalar {
        let result = try Functional.layerNormForward(input, normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
        return (result.output, SavedForward(input: input, saved: result.saved, weight: weight, outputShape: input.shape))
    }
}

/// Root-mean-square normalization over the trailing `normalizedShape` dimensions.
/// Zhang & Sennrich, "Root Mean Square Layer Normalization", arXiv:1910.07467.
///
/// y = x / √(E[x²] + ε) · γ, E over the last `normalizedShape.count` axes; no centering, no β.
///
/// - Inputs: `(*, normalizedShape…)`.
/// - Options and defaults: `eps` nil, meaning the machine epsilon of `Scalar`
///   (`Float.ulpOfOne` ≈ 1.19e-7, `Double.ulpOfOne` ≈ 2.2e-16), as in PyTorch;
///   `elementwiseAffine` true (γ = 1 learnable).
/// - Errors: ``NormError/normalizedShapeMismatch(normalizedShape:inputShape:)``.
public final class RMSNorm<Scalar: NormScalar>: NormalizationLayer<Scalar> {
    /// The trailing dimensions normalized over, and the shape of γ.
    public let normalizedShape: [Int]
    /// Whether γ is a learnable parameter.
    public let elementwiseAffine: Bool
    /// ε as configured; `nil` means `Scalar.ulpOfOne`.
    public let configuredEps: Double?

    /// Creates an RMSNorm over the trailing dimensions `normalizedShape` of `(*, normalizedShape…)` inputs.
    ///
    /// - Parameters:
    ///   - normalizedShape: the trailing dimensions normalized over.
    ///   - eps: ε, added to the mean square; default `nil`, which means `Scalar.ulpOfOne`
    ///     (PyTorch's `eps=None`: `torch.finfo(dtype).eps`).
    ///   - elementwiseAffine: whether γ (ones, shape `normalizedShape`) is learnable; default `true`.
    ///
    /// An invalid `normalizedShape` becomes ``NormalizationLayer/configurationError``.
    public init(normalizedShape: [Int], eps: Double? = nil, elementwiseAffine: Bool = true) {
        self.normalizedShape = normalizedShape
        self.elementwiseAffine = elementwiseAffine
        self.configuredEps = eps
        super.init(eps: eps ?? Double(Scalar.ulpOfOne), parameterShape: normalizedShape, sizeName: nil,
                   affine: elementwiseAffine, affineBias: false, trackingChannels: nil)
    }

    override var configurationDescription: String {
        "\(normalizedShape), eps: \(configuredEps.map { "\($0)" } ?? "nil"), elementwiseAffine: \(elementwiseAffine)"
    }

    override func forward<Input: NormScalar>(_ input: Tensor<Input>) throws -> (output: Tensor<Input>, saved: SavedForward)
    where Input.ComputeScalar == Scalar.ComputeScalar {
        // eps: nil is the input type's machine epsilon, as PyTorch's F.rms_norm takes it.
        let eps = configuredEps ?? Double(Input.ulpOfOne)
        let result = try Functional.rmsNormForward(input, normalizedShape: normalizedShape, weight: weight, eps: eps)
        return (result.output, SavedForward(input: input, saved: result.saved, weight: weight, outputShape: input.shape))
    }
}
