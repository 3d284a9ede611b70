/// The state every normalization layer shares, and the module contract built on it.
///
/// Holds the affine parameters (`weight` γ, `bias` β) with their accumulated gradients, the
/// running statistics (`running_mean`, `running_var`, `num_batches_tracked`) where the layer
/// tracks them, and what the last forward pass saved for ``backward(_:)``. Subclasses only
/// validate their input and call the functional core; they commit new state only after every
/// check has passed, so a call that throws changes nothing.
public class NormalizationLayer<Scalar: NormScalar>: Module {
    public var isTraining = true
    /// ε, added to the variance before the square root.
    public let eps: Double
    /// γ, the learnable scale; `nil` without affine parameters. Initialized to ones.
    public internal(set) var weight: Tensor<Scalar>?
    /// β, the learnable shift; `nil` without affine parameters. Initialized to zeros.
    public internal(set) var bias: Tensor<Scalar>?
    /// The running mean; `nil` unless the layer tracks running statistics. Initialized to zeros.
    public internal(set) var runningMean: Tensor<Scalar>?
    /// The running (unbiased) variance; `nil` unless the layer tracks running statistics.
    /// Initialized to ones.
    public internal(set) var runningVar: Tensor<Scalar>?
    /// How many non-empty training batches updated the running statistics; `nil` unless the
    /// layer tracks them. It stops at ``RunningStatistics/maxTrackedBatches``.
    public internal(set) var numBatchesTracked: Int?
    /// Why this layer cannot run, when its constructor was given a size it cannot honour (a
    /// negative feature count, or a normalized shape whose element count overflows `Int`).
    /// Constructors do not throw; every forward, backward and state-dict call of such a layer
    /// throws this error instead, and the layer holds no parameters or buffers.
    public let configurationError: NormError?

    var weightGradient: Tensor<Scalar>?
    var biasGradient: Tensor<Scalar>?
    /// What the last forward pass saved for the backward pass.
    var lastForward: SavedForward?

    struct SavedForward {
        /// The input as the engine saw it (with a batch dimension added where the layer adds one):
        /// a `Tensor` of the forward pass's input type, which may differ from `Scalar` (a `Float`
        /// layer on `Float16` input).
        var input: any Sendable
        var saved: SavedStatistics<Scalar>
        /// The weight the forward pass used.
        var weight: Tensor<Scalar>?
        /// The shape of the output handed to the caller.
        var outputShape: [Int]
        /// The caller's memory format where `input` differs from it (an unbatched input that
        /// got a batch dimension); the input gradient comes back in it.
        var callerFormat: MemoryFormat? = nil

        init<Input: NormScalar>(input: Tensor<Input>, saved: SavedStatistics<Input>, weight: Tensor<Scalar>?,
                                outputShape: [Int], callerFormat: MemoryFormat? = nil) {
            self.input = input
            self.saved = saved.retyped()
            self.weight = weight
            self.outputShape = outputShape
            self.callerFormat = callerFormat
        }

        /// The saved input, which a backward pass must match in type: ∂L/∂y of a `Float16`
        /// forward pass is a `Tensor<Float16>`.
        func input<Input: NormScalar>(as _: Input.Type) throws -> Tensor<Input> {
            guard let tensor = input as? Tensor<Input> else {
                throw NormError.invalidArgument(name: "gradOutput", expected: "\(type(of: input)), the type of the last forward input",
                                                actual: "Tensor<\(Input.self)>")
            }
            return tensor
        }
    }

    /// The name errors use, e.g. "BatchNorm2d".
    var layerName: String { String(String(describing: type(of: self)).prefix { $0 != "<" }) }

    /// - Parameters:
    ///   - parameterShape: the shape of γ and β, `[C]` or the normalized shape.
    ///   - sizeName: the constructor argument that gave `[C]` (`num_features`), or `nil` when
    ///     `parameterShape` is itself the argument (`normalized_shape`); names the
    ///     ``configurationError`` of an invalid size.
    ///   - trackingChannels: C when the layer tracks running statistics.
    init(eps: Double, parameterShape: [Int], sizeName: String? = "num_features", affine: Bool, affineBias: Bool = true,
         trackingChannels: Int?) {
        self.eps = eps
        guard Tensor<Scalar>.checkedElementCount(parameterShape) != nil else {
            configurationError = sizeName.map { name in
                NormError.invalidArgument(
                    name: name,
                    expected: parameterShape.contains { $0 < 0 } ? "a non-negative integer"
                        : "at most \(Int.max / MemoryLayout<Scalar>.stride) (the bytes of more \(Scalar.self) parameters overflow Int)",
                    actual: parameterShape.map(String.init).joined(separator: ", "))
            } ?? NormError.invalidShape(parameterShape)
            return
        }
        configurationError = nil
        if affine {
            weight = .ones(shape: parameterShape)
            weightGradient = .zeros(shape: parameterShape)
            if affineBias {
                bias = .zeros(shape: parameterShape)
                biasGradient = .zeros(shape: parameterShape)
            }
        }
        if let channels = trackingChannels {
            runningMean = .zeros(shape: [channels])
            runningVar = .ones(shape: [channels])
            numBatchesTracked = 0
        }
    }

    /// The layer's forward pass; subclasses override it. Returns the output, and what the
    /// backward pass needs. `Input` is `Scalar`, or a 16-bit type on a `Float` layer (PyTorch's
    /// mixed path: the parameters and running statistics stay in `Scalar`).
    func forward<Input: NormScalar>(_ input: Tensor<Input>) throws -> (output: Tensor<Input>, saved: SavedForward)
    where Input.ComputeScalar == Scalar.ComputeScalar {
        fatalError("\(type(of: self)) must override forward(_:)")
    }

    public func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> { try _callAsFunction(input) }

    /// The forward pass on input of `Scalar` or of another type that computes in the same type,
    /// natively (see ``Module/_callAsFunction(_:)``).
    public func _callAsFunction<Input: NormScalar>(_ input: Tensor<Input>) throws -> Tensor<Input>
    where Input.ComputeScalar == Scalar.ComputeScalar {
        if let configurationError { throw configurationError }
        let (output, saved) = try forward(input)
        lastForward = saved
        return output
    }

    /// Returns ∂L/∂x for the last forward pass and adds ∂L/∂γ = Σ dy·x̂ and ∂L/∂β = Σ dy to the
    /// accumulated gradients. In training mode (or whenever the forward pass used batch
    /// statistics) the gradient flows through the mean and variance; in eval mode with running
    /// statistics they are constants.
    /// - Throws: ``NormError/backwardBeforeForward(layer:)``,
    ///   ``NormError/gradientShapeMismatch(expected:actual:)``, and
    ///   ``NormError/invalidArgument(name:expected:actual:)`` when the last forward input had
    ///   another type (a `Tensor<Float16>` on a `Float` layer).
    public func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar> { try _backward(gradOutput) }

    /// The backward pass for a forward pass on `Input` (see ``forward(_:)``); subclasses that
    /// communicate (``SyncBatchNorm``) override it.
    public func _backward<Input: NormScalar>(_ gradOutput: Tensor<Input>) throws -> Tensor<Input>
    where Input.ComputeScalar == Scalar.ComputeScalar {
        if let configurationError { throw configurationError }
        guard let last = lastForward else { throw NormError.backwardBeforeForward(layer: layerName) }
        guard gradOutput.shape == last.outputShape else {
            throw NormError.gradientShapeMismatch(expected: last.outputShape, actual: gradOutput.shape)
        }
        let input = try last.input(as: Input.self)
        let gradients = try Functional.backward(
            gradOutput: gradOutput.reshaped(to: input.shape), input: input, saved: last.saved.retyped(as: Input.self),
            weight: last.weight, needsAffineGradients: weightGradient != nil)
        accumulate(weight: gradients.weight, bias: gradients.bias)
        return try gradients.input.reshaped(to: last.outputShape).withMemoryFormat(last.callerFormat ?? input.memoryFormat)
    }

    /// Adds parameter gradients to the accumulated ones.
    func accumulate(weight: Tensor<Scalar>?, bias: Tensor<Scalar>?) {
        func add(_ total: inout Tensor<Scalar>?, _ delta: Tensor<Scalar>?) {
            guard let sum = total, let delta else { return }
            total = Tensor(uncheckedShape: sum.shape, scalars: Kernels.sum(sum.storage, delta.storage))
        }
        add(&weightGradient, weight)
        add(&biasGradient, bias)
    }

    // MARK: Module state

    public func namedParameters() -> [(name: String, value: Tensor<Scalar>)] {
        [("weight", weight), ("bias", bias)].compactMap { name, value in value.map { (name, $0) } }
    }

    public func namedBuffers() -> [(name: String, value: StateTensor)] {
        var buffers = [("running_mean", runningMean), ("running_var", runningVar)]
            .compactMap { name, value in value.map { (name, StateTensor($0)) } }
        if let numBatchesTracked {
            buffers.append(("num_batches_tracked", StateTensor(int64: Int64(numBatchesTracked))))
        }
        return buffers
    }

    public func gradients() -> [String: Tensor<Scalar>] {
        var result: [String: Tensor<Scalar>] = [:]
        result["weight"] = weightGradient
        result["bias"] = biasGradient
        return result
    }

    public func zeroGrad() {
        weightGradient = weightGradient.map { .zeros(shape: $0.shape) }
        biasGradient = biasGradient.map { .zeros(shape: $0.shape) }
    }

    /// Keys a state dict may carry that this layer drops without reporting them as unexpected.
    var ignoredStateDictKeys: Set<String> { [] }

    /// ``Module/setParameter(named:to:)`` without a state-dict plan: the same checks and errors.
    public func setParameter(named name: String, to value: Tensor<Scalar>) throws {
        if let configurationError { throw configurationError }
        let current: Tensor<Scalar>
        switch name {
        case "weight" where weight != nil: current = weight!
        case "bias" where bias != nil: current = bias!
        default:
            throw NormError.unknownParameter(name, known: namedParameters().map(\.name))
        }
        guard value.shape == current.shape else {
            throw NormError.stateShapeMismatch(key: name, expected: current.shape, actual: value.shape)
        }
        if name == "weight" { weight = value.withMemoryFormat(.contiguous) } else { bias = value.withMemoryFormat(.contiguous) }
    }

    /// Validates every entry and returns a plan that writes them all.
    ///
    /// A missing `num_batches_tracked` is not reported and keeps the current count, as PyTorch
    /// does for checkpoints written before the buffer existed; a shape-`[1]` one loads as its
    /// one element, as PyTorch's rule for old 1-D scalars does.
    ///
    /// `num_batches_tracked` must be an integer in 0 ... ``RunningStatistics/maxTrackedBatches``,
    /// so that committing it cannot fail: an `I64`, or a floating-point entry holding a whole
    /// number (PyTorch would truncate a fraction; NormKit refuses it). Every other entry is
    /// converted to `Scalar` as ``StateTensor/tensor(as:)`` says, row-major.
    public func planStateDictLoad(_ stateDict: StateDict) throws -> StateDictLoadPlan {
        if let configurationError { throw configurationError }
        let own = namedParameters().map { ($0.name, $0.value.shape) } + namedBuffers().map { ($0.name, $0.value.shape) }
        let known = Set(own.map(\.0))
        var accepted: [String: Tensor<Scalar>] = [:]
        var acceptedCount: Int?
        var missing: [String] = []
        for (name, currentShape) in own {
            guard let value = stateDict[name] else {
                if name != "num_batches_tracked" { missing.append(name) }
                continue
            }
            // PyTorch's rule for checkpoints from its 0.3 versions: a one-element 1-D entry loads
            // into a 0-D buffer (`num_batches_tracked`).
            guard value.shape == currentShape || (currentShape.isEmpty && value.shape == [1]) else {
                throw NormError.stateShapeMismatch(key: name, expected: currentShape, actual: value.shape)
            }
            if name == "num_batches_tracked" {
                let limit = RunningStatistics.maxTrackedBatches
                guard let count = value.count(at: 0, limit: limit) else {
                    throw NormError.invalidStateValue(key: name, expected: "an integer in 0...\(limit)",
                                                      actual: value.description(at: 0))
                }
                acceptedCount = count
            } else {
                accepted[name] = value.tensor(as: Scalar.self)
            }
        }
        let unexpected = stateDict.keys.filter { !known.contains($0) && !ignoredStateDictKeys.contains($0) }
        return StateDictLoadPlan(missingKeys: missing, unexpectedKeys: unexpected) { [self] in
            for (name, value) in accepted {
                switch name {
                case "weight": weight = value
                case "bias": bias = value
                case "running_mean": runningMean = value
                default: runningVar = value
                }
            }
            if let acceptedCount { numBatchesTracked = acceptedCount }
        }
    }

    // MARK: Resetting state

    /// Sets `running_mean` to zeros, `running_var` to ones and `numBatchesTracked` to 0, as
    /// PyTorch's `reset_running_stats()`; does nothing for a layer that tracks no running
    /// statistics. Parameters and accumulated gradients are kept.
    public func resetRunningStats() {
        guard let runningMean, let runningVar else { return }
        self.runningMean = .zeros(shape: runningMean.shape)
        self.runningVar = .ones(shape: runningVar.shape)
        numBatchesTracked = 0
    }

    /// Resets the running statistics (``resetRunningStats()``) and the affine parameters to
    /// their initial values, γ = 1 and β = 0, as PyTorch's `reset_parameters()`. Accumulated
    /// gradients, the training flag and the last forward pass are kept.
    public func resetParameters() {
        resetRunningStats()
        weight = weight.map { .ones(shape: $0.shape) }
        bias = bias.map { .zeros(shape: $0.shape) }
    }

    // MARK: Description

    /// The constructor arguments as PyTorch's `extra_repr` lists them; subclasses override it.
    var configurationDescription: String { "eps: \(eps)" }

    // MARK: Input checks shared by the layers

    /// Throws unless `input.rank` is one of `ranks`.
    func checkRank<Input: NormScalar>(_ input: Tensor<Input>, _ ranks: [Int]) throws {
        guard ranks.contains(input.rank) else {
            throw NormError.wrongRank(layer: layerName, expected: ranks, actual: input.rank)
        }
    }

    /// Throws unless the input's dimension `axis` has `expected` elements.
    func checkChannels<Input: NormScalar>(_ input: Tensor<Input>, axis: Int, expected: Int) throws {
        guard input.shape[axis] == expected else {
            throw NormError.wrongChannelCount(layer: layerName, expected: expected, actual: input.shape[axis])
        }
    }
}

extension NormalizationLayer: CustomStringConvertible {
    /// The layer as PyTorch's `repr` prints it, in Swift's argument spelling:
    /// `BatchNorm2d(64, eps: 1e-05, momentum: 0.1, affine: true, trackRunningStats: true)`.
    public var description: String { "\(layerName)(\(configurationDescription))" }
}
