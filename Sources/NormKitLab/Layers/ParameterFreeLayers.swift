import NormKit

/// The rectifier, PyTorch's `torch.nn.ReLU`: y = max(0, x), elementwise; ∂y/∂x = 1 where x > 0
/// and 0 elsewhere (0 at x = 0, as PyTorch). Any shape; the output keeps the input's shape and
/// is row-major.
public final class ReLU<Scalar: LabScalar>: ParameterFreeModule {
    public var isTraining = true
    private var savedInput: Tensor<Scalar>?

    public init() {}

    public func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> {
        let x = input.withMemoryFormat(.contiguous)
        savedInput = x
        return try Tensor(shape: x.shape, scalars: LabDispatch.output(.reluForward(x.storage)))
    }

    public func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard let x = savedInput else { throw NormError.backwardBeforeForward(layer: "ReLU") }
        guard gradOutput.shape == x.shape else {
            throw NormError.gradientShapeMismatch(expected: x.shape, actual: gradOutput.shape)
        }
        return try Tensor(shape: x.shape, scalars: LabDispatch.output(.reluBackward(input: x.storage, gradOutput: gradOutput.scalars)))
    }
}

/// 2-D max pooling, PyTorch's `torch.nn.MaxPool2d` without padding or dilation:
/// y[n, c, i, j] = max over the window x[n, c, i·s ..< i·s + k, j·s ..< j·s + k].
///
/// - Shapes: input (N, C, H, W) with H, W ≥ k; output (N, C, ⌊(H − k)/s⌋ + 1, ⌊(W − k)/s⌋ + 1).
/// - Options: `kernelSize` k; `stride` s, default k.
/// - Backward: the gradient goes to the window's maximum (the first one on ties, as PyTorch).
/// - Throws: ``NormError/wrongRank(layer:expected:actual:)``, and
///   ``NormError/invalidArgument(name:expected:actual:)`` for an input smaller than the window.
public final class MaxPool2d<Scalar: LabScalar>: ParameterFreeModule {
    public var isTraining = true
    public let kernelSize: Int
    public let stride: Int
    private var saved: (argmax: [Int32], geometry: PoolGeometry, inputShape: [Int], outputShape: [Int])?

    public init(kernelSize: Int, stride: Int? = nil) {
        precondition(kernelSize > 0 && (stride ?? 1) > 0, "MaxPool2d: kernel size and stride must be positive")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }

    public func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard input.rank == 4 else { throw NormError.wrongRank(layer: "MaxPool2d", expected: [4], actual: input.rank) }
        guard input.shape[2] >= kernelSize, input.shape[3] >= kernelSize else {
            throw NormError.invalidArgument(name: "MaxPool2d input size (H, W)", expected: "at least the kernel size \(kernelSize)",
                                            actual: "\(input.shape[2]) × \(input.shape[3])")
        }
        let geometry = PoolGeometry(planes: input.shape[0] * input.shape[1], height: input.shape[2], width: input.shape[3],
                                    kernel: kernelSize, stride: stride)
        guard case let .pooled(output, argmax) = LabDispatch.call(LabKernelCall<Scalar>.Request.maxPoolForward(
            input: input.scalars, geometry: geometry)) else { fatalError("lab kernel response") }
        let shape = [input.shape[0], input.shape[1], geometry.outHeight, geometry.outWidth]
        saved = (argmax, geometry, input.shape, shape)
        return try Tensor(shape: shape, scalars: output)
    }

    public func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard let saved else { throw NormError.backwardBeforeForward(layer: "MaxPool2d") }
        guard gradOutput.shape == saved.outputShape else {
            throw NormError.gradientShapeMismatch(expected: saved.outputShape, actual: gradOutput.shape)
        }
        return try Tensor(shape: saved.inputShape, scalars: LabDispatch.output(.maxPoolBackward(
            gradOutput: gradOutput.scalars, argmax: saved.argmax, geometry: saved.geometry)))
    }
}

/// Global average pooling, PyTorch's `torch.nn.AdaptiveAvgPool2d(1)`:
/// y[n, c, 0, 0] = mean over (h, w) of x[n, c, h, w].
///
/// - Shapes: input (N, C, H, W); output (N, C, 1, 1).
/// - Throws: ``NormError/wrongRank(layer:expected:actual:)``.
public final class GlobalAvgPool2d<Scalar: LabScalar>: ParameterFreeModule {
    public var isTraining = true
    private var inputShape: [Int]?

    public init() {}

    public func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard input.rank == 4 else { throw NormError.wrongRank(layer: "GlobalAvgPool2d", expected: [4], actual: input.rank) }
        let planes = input.shape[0] * input.shape[1], planeSize = input.shape[2] * input.shape[3]
        let output: [Scalar] = LabDispatch.output(.averagePoolForward(input: input.scalars, planes: planes, planeSize: planeSize))
        inputShape = input.shape
        return try Tensor(shape: [input.shape[0], input.shape[1], 1, 1], scalars: output)
    }

    public func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard let shape = inputShape else { throw NormError.backwardBeforeForward(layer: "GlobalAvgPool2d") }
        guard gradOutput.shape == [shape[0], shape[1], 1, 1] else {
            throw NormError.gradientShapeMismatch(expected: [shape[0], shape[1], 1, 1], actual: gradOutput.shape)
        }
        return try Tensor(shape: shape, scalars: LabDispatch.output(.averagePoolBackward(
            gradOutput: gradOutput.scalars, planes: shape[0] * shape[1], planeSize: shape[2] * shape[3])))
    }
}

/// Flattens every dimension after the first, PyTorch's `torch.nn.Flatten()`: (N, d₁, …, d_k) →
/// (N, d₁·…·d_k), in row-major order. Backward reshapes back.
/// - Throws: ``NormError/rankTooSmall(layer:minimum:actual:)`` for a rank-0 input.
public final class Flatten<Scalar: LabScalar>: ParameterFreeModule {
    public var isTraining = true
    private var inputShape: [Int]?

    public init() {}

    public func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard input.rank >= 1 else { throw NormError.rankTooSmall(layer: "Flatten", minimum: 1, actual: input.rank) }
        inputShape = input.shape
        return try input.reshaped(to: [input.shape[0], input.shape.dropFirst().reduce(1, *)])
    }

    public func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard let shape = inputShape else { throw NormError.backwardBeforeForward(layer: "Flatten") }
        let expected = [shape[0], shape.dropFirst().reduce(1, *)]
        guard gradOutput.shape == expected else {
            throw NormError.gradientShapeMismatch(expected: expected, actual: gradOutput.shape)
        }
        return try gradOutput.reshaped(to: shape)
    }
}

/// Softmax cross-entropy with integer labels, PyTorch's `torch.nn.CrossEntropyLoss()` (mean
/// reduction): L = (1/N) Σₙ [log Σ_c exp z[n, c] − z[n, yₙ]].
///
/// `backward(scale:)` returns ∂(scale · L)/∂z = scale · (softmax(z) − onehot(y)) / N; `scale` is
/// the upstream gradient of the scalar loss (1 for plain training).
///
/// - Shapes: logits (N, classes); labels N integers in `0..<classes`.
/// - Throws: ``NormError/wrongRank(layer:expected:actual:)``, and
///   ``NormError/invalidArgument(name:expected:actual:)`` for a label count other than N or a
///   label out of range.
public final class SoftmaxCrossEntropy<Scalar: LabScalar> {
    private var saved: (probabilities: [Scalar], labels: [Int], shape: [Int])?

    public init() {}

    /// The mean loss over the batch.
    public func callAsFunction(_ logits: Tensor<Scalar>, labels: [Int]) throws -> Double {
        guard logits.rank == 2 else {
            throw NormError.wrongRank(layer: "CrossEntropyLoss", expected: [2], actual: logits.rank)
        }
        let classes = logits.shape[1]
        guard labels.count == logits.shape[0] else {
            throw NormError.invalidArgument(name: "labels", expected: "\(logits.shape[0]) labels, one per row of logits",
                                            actual: "\(labels.count) labels")
        }
        if let bad = labels.first(where: { !(0..<classes).contains($0) }) {
            throw NormError.invalidArgument(name: "label", expected: "in 0..<\(classes)", actual: "\(bad)")
        }
        guard case let .loss(loss, probabilities) = LabDispatch.call(LabKernelCall<Scalar>.Request.softmaxCrossEntropy(
            logits: logits.scalars, labels: labels, classes: classes)) else { fatalError("lab kernel response") }
        saved = (probabilities, labels, logits.shape)
        return loss
    }

    /// ∂(scale · L)/∂logits for the last call.
    public func backward(scale: Double = 1) throws -> Tensor<Scalar> {
        guard let saved else { throw NormError.backwardBeforeForward(layer: "CrossEntropyLoss") }
        return try Tensor(shape: saved.shape, scalars: LabDispatch.output(.softmaxCrossEntropyBackward(
            probabilities: saved.probabilities, labels: saved.labels, classes: saved.shape[1], scale: scale)))
    }

    /// How many rows of `logits` have their largest value at the label.
    public static func correctCount(_ logits: Tensor<Scalar>, labels: [Int]) -> Int {
        guard case let .count(count) = LabDispatch.call(LabKernelCall<Scalar>.Request.correctCount(
            logits: logits.scalars, labels: labels, classes: logits.shape[1])) else { fatalError("lab kernel response") }
        return count
    }
}
