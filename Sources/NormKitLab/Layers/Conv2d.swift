import NormKit

/// A 2-D convolution (cross-correlation), PyTorch's `torch.nn.Conv2d` with square kernels,
/// `dilation` 1 and `groups` 1.
///
/// y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x[n, c, i·s − p + u, j·s − p + v],
/// with x = 0 in the padding.
///
/// - Shapes: input (N, C_in, H, W), either memory format (read row-major); output
///   (N, C_out, ⌊(H + 2p − k)/s⌋ + 1, ⌊(W + 2p − k)/s⌋ + 1), row-major.
/// - Parameters: `weight` (C_out, C_in, k, k); `bias` (C_out), unless built with `bias: false`.
/// - Options: `stride` (default 1), `padding` (default 0), `bias` (default `true`).
/// - Initialization: Kaiming normal, N(0, 2 / (C_in·k·k)) (arXiv:1502.01852), from the given
///   seeded generator; the bias starts at zero.
/// - Computation: im2col, then one blocked SIMD matrix product per pass (specialized for
///   `Float` and `Double`; see ``LabScalar``).
/// - Throws: ``NormError/wrongRank(layer:expected:actual:)``,
///   ``NormError/wrongChannelCount(layer:expected:actual:)``,
///   ``NormError/invalidArgument(name:expected:actual:)`` for an input smaller than the kernel,
///   and from `backward`, ``NormError/backwardBeforeForward(layer:)`` and
///   ``NormError/gradientShapeMismatch(expected:actual:)``.
public final class Conv2d<Scalar: LabScalar>: WeightedLayer<Scalar> {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int

    private var saved: (columns: [Scalar], geometry: ConvolutionGeometry)?

    public init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, using generator: inout SeededGenerator) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0,
                     "Conv2d: channels, kernel size and stride must be positive and padding non-negative")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        let weight: Tensor<Scalar> = kaimingNormal(shape: [outChannels, inChannels, kernelSize, kernelSize],
                                                   fanIn: inChannels * kernelSize * kernelSize, using: &generator)
        super.init(weight: weight, bias: bias ? .zeros(shape: [outChannels]) : nil)
    }

    /// The output's shape for an input of `shape` (N, C_in, H, W).
    public func outputShape(for shape: [Int]) -> [Int] {
        [shape[0], outChannels, (shape[2] + 2 * padding - kernelSize) / stride + 1,
         (shape[3] + 2 * padding - kernelSize) / stride + 1]
    }

    public override func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard input.rank == 4 else { throw NormError.wrongRank(layer: layerName, expected: [4], actual: input.rank) }
        guard input.shape[1] == inChannels else {
            throw NormError.wrongChannelCount(layer: layerName, expected: inChannels, actual: input.shape[1])
        }
        let height = input.shape[2] + 2 * padding, width = input.shape[3] + 2 * padding
        guard height >= kernelSize, width >= kernelSize else {
            throw NormError.invalidArgument(name: "\(layerName) input size (H + 2·padding, W + 2·padding)",
                                            expected: "at least the kernel size \(kernelSize)",
                                            actual: "\(height) × \(width)")
        }
        let geometry = ConvolutionGeometry(
            batch: input.shape[0], inChannels: inChannels, height: input.shape[2], width: input.shape[3],
            outChannels: outChannels, kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride, padding: padding)
        guard case let .convolution(output, columns) = LabDispatch.call(LabKernelCall<Scalar>.Request.conv2dForward(
            input: input.scalars, weight: weight.scalars, bias: bias?.scalars, geometry: geometry)) else {
            fatalError("lab kernel response")
        }
        saved = (columns, geometry)
        return try Tensor(shape: outputShape(for: input.shape), scalars: output)
    }

    /// Returns ∂L/∂x and adds ∂L/∂W and ∂L/∂b to the accumulated gradients.
    public override func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard let saved else { throw NormError.backwardBeforeForward(layer: layerName) }
        let g = saved.geometry
        try checkGradient(gradOutput, expected: [g.batch, outChannels, g.outHeight, g.outWidth])
        guard case let .gradients(dx, dw, db) = LabDispatch.call(LabKernelCall<Scalar>.Request.conv2dBackward(
            columns: saved.columns, weight: weight.scalars, gradOutput: gradOutput.scalars, geometry: g,
            needsInputGradient: true, needsBiasGradient: bias != nil)) else {
            fatalError("lab kernel response")
        }
        try accumulate(weight: dw, bias: db)
        return try Tensor(shape: [g.batch, inChannels, g.height, g.width], scalars: dx!)
    }
}
