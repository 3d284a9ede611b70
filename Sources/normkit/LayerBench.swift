import NormKit

/// Times one normalization layer through NormKit's public API, from this module, as a user's
/// code would call it.
///
/// - forward: `try layer(x)` in training mode;
/// - eval: `try layer(x)` in eval mode (BatchNorm with its initial running statistics);
/// - backward: one training forward outside the timed region, then `try layer.backward(dy)`
///   each call (the parameter gradients accumulate, as they do in PyTorch);
/// - step: a training forward and its backward, both timed (the baseline of syncbatchnorm2d);
/// - memoryformat: `x.withMemoryFormat(_:)`, x stored in the other format.
enum LayerBench {
    static func measure(_ benchCase: BenchCase, policy: TimingPolicy, inputs: InputCache) throws -> Sampler {
        try Sampler.measure(policy, try prepare(benchCase, inputs: inputs))
    }

    /// Makes the case's layer and tensors, runs what precedes the timed phase (backward: one
    /// training forward), and returns the timed phase as one call.
    static func prepare(_ benchCase: BenchCase, inputs: InputCache) throws -> () throws -> Void {
        switch benchCase.dtype {
        case .float32: try prepare(benchCase, Float.self, inputs: inputs)
        case .float64: try prepare(benchCase, Double.self, inputs: inputs)
        case .float16:
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            try prepareMixed(benchCase, Float16.self, inputs: inputs)
            #else
            throw NormError.invalidArgument(name: "dtype", expected: "float32, float64 or bfloat16 (Swift has no Float16 on macOS x86-64)",
                                            actual: "float16")
            #endif
        case .bfloat16: try prepareMixed(benchCase, BFloat16.self, inputs: inputs)
        }
    }

    /// A Float layer on half-precision input and upstream gradient (PyTorch's mixed path).
    private static func prepareMixed<Half: HalfPrecisionScalar>(
        _ benchCase: BenchCase, _: Half.Type, inputs: InputCache
    ) throws -> () throws -> Void {
        if benchCase.layer == .memoryformat { return conversion(benchCase, Half.self, inputs: inputs) }
        let layer: any Module<Float> = makeLayer(benchCase)
        let (x, dy): (Tensor<Half>, Tensor<Half>?) = inputs.tensors(for: benchCase)
        return try phase(benchCase.mode, train: layer.train, forward: { _ = try layer(x) }, backward: { _ = try layer.backward(dy!) })
    }

    private static func prepare<S: NormScalar>(
        _ benchCase: BenchCase, _: S.Type, inputs: InputCache
    ) throws -> () throws -> Void {
        if benchCase.layer == .memoryformat { return conversion(benchCase, S.self, inputs: inputs) }
        let layer: any Module<S> = makeLayer(benchCase)
        let (x, dy): (Tensor<S>, Tensor<S>?) = inputs.tensors(for: benchCase)
        return try phase(benchCase.mode, train: layer.train, forward: { _ = try layer(x) }, backward: { _ = try layer.backward(dy!) })
    }

    /// `x.withMemoryFormat(_:)` into the format the case's layout names, x stored in the other.
    private static func conversion<S: NormScalar>(_ benchCase: BenchCase, _: S.Type, inputs: InputCache) -> () throws -> Void {
        var source = benchCase
        source.layout = benchCase.layout == .nhwc ? .nchw : .nhwc
        let x: Tensor<S> = inputs.tensor(.input, for: source)
        let target: MemoryFormat = benchCase.layout == .nhwc ? .channelsLast : .contiguous
        return { _ = x.withMemoryFormat(target) }
    }

    /// The phase `mode` names: `forward` in training or eval mode, `backward` after one untimed
    /// training forward, or both (step).
    private static func phase(
        _ mode: BenchCase.Mode, train: (Bool) -> Void, forward: @escaping () throws -> Void,
        backward: @escaping () throws -> Void
    ) throws -> () throws -> Void {
        train(mode != .eval)
        switch mode {
        case .forward, .eval:
            return forward
        case .backward:
            try forward()
            return backward
        case .step:
            return {
                try forward()
                try backward()
            }
        }
    }

    /// The layer a case names, as PyTorch's default constructor makes it (InstanceNorm with
    /// affine parameters; LayerNorm and RMSNorm over the last dimension).
    static func makeLayer<S: NormScalar>(_ benchCase: BenchCase) -> any Module<S> {
        let shape = benchCase.shape
        switch benchCase.layer {
        case .batchnorm1d: return BatchNorm1d<S>(numFeatures: shape[1])
        case .batchnorm2d: return BatchNorm2d<S>(numFeatures: shape[1])
        case .batchnorm3d: return BatchNorm3d<S>(numFeatures: shape[1])
        case .instancenorm1d: return InstanceNorm1d<S>(numFeatures: shape[1], affine: true)
        case .instancenorm2d: return InstanceNorm2d<S>(numFeatures: shape[1], affine: true)
        case .instancenorm3d: return InstanceNorm3d<S>(numFeatures: shape[1], affine: true)
        case .layernorm: return LayerNorm<S>(normalizedShape: [shape[shape.count - 1]])
        case .rmsnorm: return RMSNorm<S>(normalizedShape: [shape[shape.count - 1]])
        case .groupnorm: return GroupNorm<S>(numGroups: benchCase.groups ?? 32, numChannels: shape[1])
        case .syncbatchnorm2d, .collective: preconditionFailure("\(benchCase.layer) runs on thread ranks: see DistributedBench")
        case .memoryformat: preconditionFailure("memoryformat times a conversion, not a layer")
        }
    }
}

/// Seeded random inputs, kept for the next case of the same shape, dtype and layout: the
/// default suite lists those together, and drawing tens of millions of normal samples takes
/// longer than timing a kernel.
final class InputCache {
    enum Role: UInt64 {
        /// The layer's input x.
        case input = 1
        /// The upstream gradient dy.
        case gradOutput = 2
    }

    private var key: String?
    private var tensors: [Role: Any] = [:]

    /// x, and dy when the case times a backward pass.
    func tensors<S: NormScalar>(for benchCase: BenchCase) -> (input: Tensor<S>, gradOutput: Tensor<S>?) {
        (tensor(.input, for: benchCase), benchCase.mode.timesBackward ? tensor(.gradOutput, for: benchCase) : nil)
    }

    /// x or dy for `benchCase`, normal(0, 1), stored in the case's layout.
    func tensor<S: NormScalar>(_ role: Role, for benchCase: BenchCase) -> Tensor<S> {
        let key = "\(benchCase.shape) \(benchCase.dtype) \(benchCase.layout)"
        if key != self.key {
            self.key = key
            tensors = [:]
        }
        if let cached = tensors[role] as? Tensor<S> { return cached }
        let tensor: Tensor<S> = Self.random(role, for: benchCase)
        tensors[role] = tensor
        return tensor
    }

    /// A fresh x or dy for `benchCase`; `rank` seeds a different shard per rank.
    static func random<S: NormScalar>(_ role: Role, for benchCase: BenchCase, rank: Int = 0) -> Tensor<S> {
        var generator = SeededGenerator(seed: role.rawValue * 1_000 + UInt64(rank))
        return Tensor<S>.randomNormal(shape: benchCase.shape, using: &generator)
            .withMemoryFormat(benchCase.layout == .nhwc ? .channelsLast : .contiguous)
    }
}
