import NormKit

/// The scalar types the training lab computes with: `Float` (training) and `Double` (gradient
/// checks).
///
/// # How the lab stays fast from another module
///
/// The lab follows NormKit's specialization rule (see `Sources/NormKit/Kernels/Specialization.swift`):
/// **every loop over elements runs in code compiled for a concrete scalar type inside
/// NormKitLab.** The layers, the optimizer and the trainer are generic and do O(1) work per call
/// (plus O(channels) bookkeeping); they reach the element loops only through one protocol
/// requirement, ``_runLabKernel(_:)``. `Float` and `Double` implement it with one line,
/// `call.run()`; inside that line the type is concrete, so the optimizer specializes
/// ``LabKernelCall/run()`` and every kernel below it (the blocked matrix multiply, im2col, the
/// pools, the loss, the SGD update). The `normkit` executable, another module, therefore runs
/// specialized code for `Tensor<Float>` without `@inlinable` or extra flags.
public protocol LabScalar: NormScalar, SIMDScalar {
    /// Runs one of the lab's kernels, specialized for this type. An implementation detail of the
    /// specialization rule: call the layers instead.
    static func _runLabKernel(_ call: inout LabKernelCall<Self>)

    /// Replaces `buffer` by the elementwise sum over the ranks of `group`
    /// (``ProcessGroup/allReduceSum(_:)-(inout [Float])`` for this type).
    static func _allReduceSum(_ buffer: inout [Self], in group: any ProcessGroup) throws
}

extension Float: LabScalar {
    public static func _runLabKernel(_ call: inout LabKernelCall<Float>) { call.run() }
    public static func _allReduceSum(_ buffer: inout [Float], in group: any ProcessGroup) throws {
        try group.allReduceSum(&buffer)
    }
}

extension Double: LabScalar {
    public static func _runLabKernel(_ call: inout LabKernelCall<Double>) { call.run() }
    public static func _allReduceSum(_ buffer: inout [Double], in group: any ProcessGroup) throws {
        try group.allReduceSum(&buffer)
    }
}

/// One request to the lab's kernels and its response; see ``LabScalar``.
public struct LabKernelCall<Scalar: LabScalar> {
    enum Request {
        case conv2dForward(input: [Scalar], weight: [Scalar], bias: [Scalar]?, geometry: ConvolutionGeometry)
        case conv2dBackward(columns: [Scalar], weight: [Scalar], gradOutput: [Scalar],
                            geometry: ConvolutionGeometry, needsInputGradient: Bool, needsBiasGradient: Bool)
        case linearForward(input: [Scalar], weight: [Scalar], bias: [Scalar]?, batch: Int, inFeatures: Int, outFeatures: Int)
        case linearBackward(input: [Scalar], weight: [Scalar], gradOutput: [Scalar], batch: Int, inFeatures: Int,
                            outFeatures: Int, needsBiasGradient: Bool)
        case matrixProduct(a: [Scalar], transposeA: Bool, b: [Scalar], transposeB: Bool, m: Int, n: Int, k: Int)
        case reluForward([Scalar])
        case reluBackward(input: [Scalar], gradOutput: [Scalar])
        case maxPoolForward(input: [Scalar], geometry: PoolGeometry)
        case maxPoolBackward(gradOutput: [Scalar], argmax: [Int32], geometry: PoolGeometry)
        case averagePoolForward(input: [Scalar], planes: Int, planeSize: Int)
        case averagePoolBackward(gradOutput: [Scalar], planes: Int, planeSize: Int)
        case softmaxCrossEntropy(logits: [Scalar], labels: [Int], classes: Int)
        case softmaxCrossEntropyBackward(probabilities: [Scalar], labels: [Int], classes: Int, scale: Double)
        case sgdStep(parameter: [Scalar], gradient: [Scalar], velocity: [Scalar]?, options: SGDStepOptions)
        case add([Scalar], [Scalar])
        case scale([Scalar], by: Double)
        case gather(source: [Float], rowLength: Int, rows: [Int])
        case correctCount(logits: [Scalar], labels: [Int], classes: Int)
        case zeros(count: Int)
    }

    enum Response {
        case none
        case output([Scalar])
        case outputs([Scalar], [Scalar])
        case convolution(output: [Scalar], columns: [Scalar])
        case gradients(input: [Scalar]?, weight: [Scalar], bias: [Scalar]?)
        case pooled([Scalar], argmax: [Int32])
        case loss(Double, probabilities: [Scalar])
        case count(Int)
    }

    var request: Request
    var response: Response = .none

    init(_ request: Request) { self.request = request }

    /// Runs the request. Called only from the `Float` and `Double` conformances, where `Scalar`
    /// is concrete and this whole call tree is specialized.
    mutating func run() {
        switch request {
        case let .conv2dForward(input, weight, bias, geometry):
            let (output, columns) = LabKernels.conv2dForward(input, weight: weight, bias: bias, geometry: geometry)
            response = .convolution(output: output, columns: columns)
        case let .conv2dBackward(columns, weight, gradOutput, geometry, needsInput, needsBias):
            let g = LabKernels.conv2dBackward(columns: columns, weight: weight, gradOutput: gradOutput, geometry: geometry,
                                              needsInputGradient: needsInput, needsBiasGradient: needsBias)
            response = .gradients(input: g.input, weight: g.weight, bias: g.bias)
        case let .linearForward(input, weight, bias, batch, inFeatures, outFeatures):
            response = .output(LabKernels.linearForward(input, weight: weight, bias: bias, batch: batch,
                                                        inFeatures: inFeatures, outFeatures: outFeatures))
        case let .linearBackward(input, weight, gradOutput, batch, inFeatures, outFeatures, needsBias):
            let g = LabKernels.linearBackward(input, weight: weight, gradOutput: gradOutput, batch: batch,
                                              inFeatures: inFeatures, outFeatures: outFeatures, needsBiasGradient: needsBias)
            response = .gradients(input: g.input, weight: g.weight, bias: g.bias)
        case let .matrixProduct(a, transposeA, b, transposeB, m, n, k):
            response = .output(MatrixMultiply.product(a, transposeA: transposeA, b, transposeB: transposeB, m: m, n: n, k: k))
        case let .reluForward(input):
            response = .output(LabKernels.relu(input))
        case let .reluBackward(input, gradOutput):
            response = .output(LabKernels.reluBackward(input, gradOutput))
        case let .maxPoolForward(input, geometry):
            let (output, argmax) = LabKernels.maxPool(input, geometry)
            response = .pooled(output, argmax: argmax)
        case let .maxPoolBackward(gradOutput, argmax, geometry):
            response = .output(LabKernels.maxPoolBackward(gradOutput, argmax: argmax, geometry))
        case let .averagePoolForward(input, planes, planeSize):
            response = .output(LabKernels.averagePool(input, planes: planes, planeSize: planeSize))
        case let .averagePoolBackward(gradOutput, planes, planeSize):
            response = .output(LabKernels.averagePoolBackward(gradOutput, planes: planes, planeSize: planeSize))
        case let .softmaxCrossEntropy(logits, labels, classes):
            let (loss, probabilities) = LabKernels.softmaxCrossEntropy(logits, labels: labels, classes: classes)
            response = .loss(loss, probabilities: probabilities)
        case let .softmaxCrossEntropyBackward(probabilities, labels, classes, scale):
            response = .output(LabKernels.softmaxCrossEntropyBackward(probabilities, labels: labels, classes: classes,
                                                                      scale: scale))
        case let .sgdStep(parameter, gradient, velocity, options):
            let (parameter, velocity) = LabKernels.sgdStep(parameter, gradient: gradient, velocity: velocity, options)
            response = .outputs(parameter, velocity)
        case let .add(a, b):
            response = .output(LabKernels.add(a, b))
        case let .scale(values, factor):
            response = .output(LabKernels.scale(values, by: Scalar(factor)))
        case let .gather(source, rowLength, rows):
            response = .output(LabKernels.gather(source, rowLength: rowLength, rows: rows, as: Scalar.self))
        case let .correctCount(logits, labels, classes):
            response = .count(LabKernels.correctCount(logits, labels: labels, classes: classes))
        case let .zeros(count):
            response = .output(LabKernels.zeros(count, as: Scalar.self))
        }
    }
}

/// The generic side of the rule: build one request, make the one witness-table call, unpack.
enum LabDispatch {
    static func call<S: LabScalar>(_ request: LabKernelCall<S>.Request) -> LabKernelCall<S>.Response {
        var call = LabKernelCall<S>(request)
        S._runLabKernel(&call)
        return call.response
    }

    static func output<S: LabScalar>(_ request: LabKernelCall<S>.Request) -> [S] {
        guard case let .output(values) = call(request) else { fatalError("lab kernel response") }
        return values
    }

    /// A zero tensor of `shape` (NormKit's `Tensor.zeros` fills element by element in generic code).
    static func zeros<S: LabScalar>(_ shape: [Int], as _: S.Type = S.self) -> Tensor<S> {
        let values: [S] = output(.zeros(count: shape.reduce(1, *)))
        return try! Tensor(shape: shape, scalars: values)
    }

    /// a + b, elementwise.
    static func add<S: LabScalar>(_ a: [S], _ b: [S]) -> [S] { output(.add(a, b)) }

    /// values · factor, elementwise.
    static func scale<S: LabScalar>(_ values: [S], by factor: Double) -> [S] { output(.scale(values, by: factor)) }

    /// The product C = op(A) · op(B) of row-major matrices, C being m × n and the inner size k.
    static func matrixProduct<S: LabScalar>(
        _ a: [S], transposeA: Bool = false, _ b: [S], transposeB: Bool = false, m: Int, n: Int, k: Int
    ) -> [S] {
        precondition(a.count == m * k && b.count == k * n, "matrix sizes")
        return output(.matrixProduct(a: a, transposeA: transposeA, b: b, transposeB: transposeB, m: m, n: n, k: k))
    }
}
