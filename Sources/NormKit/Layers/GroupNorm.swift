/// Group normalization: the channels are split into `numGroups` groups and each (sample, group)
/// is normalized over its channels and spatial axes. Wu & He, "Group Normalization",
/// arXiv:1803.08494.
///
/// y = (x − E[x]) / √(Var[x] + ε) · γ + β, E and Var per (n, g); γ and β per channel.
/// `GroupNorm(numGroups: C)` is InstanceNorm with affine parameters; `numGroups: 1` normalizes
/// each sample over all of (C, *). The layer behaves the same in training and eval mode.
///
/// - Inputs: `(N, C, *)`, rank ≥ 2.
/// - Options and defaults: `eps` 1e-5, `affine` true (γ = 1, β = 0 learnable, shape `[C]`).
/// - Errors: ``NormError/groupsDoNotDivideChannels(groups:channels:)`` on the first forward
///   pass when `numGroups` does not divide `numChannels`,
///   ``NormError/rankTooSmall(layer:minimum:actual:)``,
///   ``NormError/wrongChannelCount(layer:expected:actual:)``.
public final class GroupNorm<Scalar: NormScalar>: NormalizationLayer<Scalar> {
    /// G, the number of groups.
    public let numGroups: Int
    /// C, the number of channels.
    public let numChannels: Int
    /// Whether γ and β, shape `[C]`, are learnable parameters.
    public let affine: Bool

    /// Creates a GroupNorm layer over `(N, C, *)` inputs.
    ///
    /// - Parameters:
    ///   - numGroups: G, the number of groups; it must divide `numChannels`.
    ///   - numChannels: C, the size of the input's dimension 1.
    ///   - eps: ε, added to the variance before the square root; default 1e-5.
    ///   - affine: whether γ (ones) and β (zeros), shape `[C]`, are learnable; default `true`.
    ///
    /// The constructor does not throw: G not dividing C throws
    /// ``NormError/groupsDoNotDivideChannels(groups:channels:)`` from the first forward pass (PyTorch
    /// raises in the constructor), and a negative `numChannels` becomes
    /// ``NormalizationLayer/configurationError``.
    public init(numGroups: Int, numChannels: Int, eps: Double = 1e-5, affine: Bool = true) {
        self.numGroups = numGroups
        self.numChannels = numChannels
        self.affine = affine
        super.init(eps: eps, parameterShape: [numChannels], sizeName: "num_channels", affine: affine, trackingChannels: nil)
    }

    override var configurationDescription: String { "\(numGroups), \(numChannels), eps: \(eps), affine: \(affine)" }

    override func forward<Input: NormScalar>(_ input: Tensor<Input>) throws -> (output: Tensor<Input>, saved: SavedForward)
    where Input.ComputeScalar == Scalar.ComputeScalar {
        guard numGroups > 0, numChannels % numGroups == 0 else {
            throw NormError.groupsDoNotDivideChannels(groups: numGroups, channels: numChannels)
        }
        guard input.rank >= 2 else { throw NormError.rankTooSmall(layer: layerName, minimum: 2, actual: input.rank) }
        try checkChannels(input, axis: 1, expected: numChannels)
        let result = try Functional.groupNormForward(input, numGroups: numGroups, weight: weight, bias: bias, eps: eps)
        return (result.output, SavedForward(input: input, saved: result.saved, weight: weight, outputShape: input.shape))
    }
}
