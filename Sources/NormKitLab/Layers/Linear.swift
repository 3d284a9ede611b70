import NormKit

/// A fully connected layer, PyTorch's `torch.nn.Linear`: y = x Wᵀ + b.
///
/// - Shapes: input (N, in), output (N, out).
/// - Parameters: `weight` (out, in); `bias` (out), unless built with `bias: false`.
/// - Initialization: Kaiming normal, N(0, 2 / in) (arXiv:1502.01852), from the given seeded
///   generator; the bias starts at zero.
/// - Throws: ``NormError/wrongRank(layer:expected:actual:)``,
///   ``NormError/wrongChannelCount(layer:expected:actual:)`` for a feature count other than
///   `inFeatures`, and from `backward`, ``NormError/backwardBeforeForward(layer:)`` and
///   ``NormError/gradientShapeMismatch(expected:actual:)``.
public final class Linear<Scalar: LabScalar>: WeightedLayer<Scalar> {
    public let inFeatures: Int
    public let outFeatures: Int
    private var savedInput: Tensor<Scalar>?

    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true, using generator: inout SeededGenerator) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: feature counts must be positive")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let weight: Tensor<Scalar> = kaimingNormal(shape: [outFeatures, inFeatures], fanIn: inFeatures, using: &generator)
        super.init(weight: weight, bias: bias ? .zeros(shape: [outFeatures]) : nil)
    }

    public override func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard input.rank == 2 else { throw NormError.wrongRank(layer: layerName, expected: [2], actual: input.rank) }
        guard input.shape[1] == inFeatures else {
            throw NormError.wrongChannelCount(layer: layerName, expected: inFeatures, actual: input.shape[1])
        }
        let output: [Scalar] = LabDispatch.output(.linearForward(input: input.scalars, weight: weight.scalars, bias: bias?.scalars,
                                                         batch: input.shape[0], inFeatures: inFeatures,
                                                         outFeatures: outFeatures))
        savedInput = input
        return try Tensor(shape: [input.shape[0], outFeatures], scalars: output)
    }

    /// Returns ∂L/∂x and adds ∂L/∂W and ∂L/∂b to the accumulated gradients.
    public override func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard let input = savedInput else { throw NormError.backwardBeforeForward(layer: layerName) }
        try checkGradient(gradOutput, expected: [input.shape[0], outFeatures])
        guard case let .gradients(dx, dw, db) = LabDispatch.call(LabKernelCall<Scalar>.Request.linearBackward(
            input: input.scalars, weight: weight.scalars, gradOutput: gradOutput.scalars, batch: input.shape[0],
            inFeatures: inFeatures, outFeatures: outFeatures, needsBiasGradient: bias != nil)) else {
            fatalError("lab kernel response")
        }
        try accumulate(weight: dw, bias: db)
        return try Tensor(shape: input.shape, scalars: dx!)
    }
}
