/// A layer or a container of layers, with PyTorch's module contract: a training flag,
/// named parameters and buffers, a state dict with PyTorch's key names, accumulated gradients,
/// and a forward and backward pass.
///
/// ```swift
/// let bn = BatchNorm2d<Float>(numFeatures: 2)
/// let y = try bn(x)              // training mode: batch statistics, running statistics updated
/// let dx = try bn.backward(dy)   // input gradient; bn.gradients()["weight"] accumulates
/// bn.eval()                      // running statistics from now on
/// ```
public protocol Module<Scalar>: AnyObject {
    associatedtype Scalar: NormScalar

    /// `true` in training mode (the default), `false` in eval mode.
    var isTraining: Bool { get set }

    /// The direct submodules with their names (`"0"`, `"1"`, … in a ``Sequential``, or the names
    /// given to ``Sequential/init(named:)-8eqr5`` or a ``ModuleContainer``).
    /// State-dict keys nest these names with dots: `"layer1.0.bn1.running_mean"`.
    var children: [(name: String, module: any Module<Scalar>)] { get }

    /// The learnable tensors, by their state-dict names (`weight`, `bias`, `0.weight`, …).
    func namedParameters() -> [(name: String, value: Tensor<Scalar>)]

    /// The non-learnable state, by their state-dict names (`running_mean`, `running_var`,
    /// `num_batches_tracked`, …), each in its own dtype as PyTorch keeps buffers:
    /// `num_batches_tracked` is a shape-`[]` `I64` entry, the running statistics are in the
    /// module's scalar type.
    func namedBuffers() -> [(name: String, value: StateTensor)]

    /// The accumulated gradients of the parameters, by parameter name. They start at zero and
    /// every ``backward(_:)`` adds to them until ``zeroGrad()``.
    func gradients() -> [String: Tensor<Scalar>]

    /// Resets every accumulated gradient to zero.
    func zeroGrad()

    /// Validates a state dict against this module without changing anything, and returns what a
    /// load would do. `loadStateDict(_:strict:)` commits it.
    ///
    /// Entries of any ``DType`` load into floating-point parameters and statistics, converted as
    /// PyTorch's `param.copy_(entry)` converts them (see ``StateTensor/tensor(as:)``).
    /// - Throws: ``NormError/stateShapeMismatch(key:expected:actual:)`` and
    ///   ``NormError/invalidStateValue(key:expected:actual:)``.
    func planStateDictLoad(_ stateDict: StateDict) throws -> StateDictLoadPlan

    /// The forward pass.
    func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar>

    /// The backward pass of the last forward pass: returns ∂L/∂input for ∂L/∂output and adds
    /// the parameter gradients to ``gradients()``.
    func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar>

    /// The forward pass on input of another type that computes in the same type as `Scalar`: a
    /// `Float` module on `Float16` or `BFloat16` input. Call it as `module(x)` on a
    /// `Tensor<Float16>` or `Tensor<BFloat16>` (see ``HalfPrecisionScalar``); the normalization
    /// layers and ``Sequential`` run it natively, other modules through `Float`.
    func _callAsFunction<Input: NormScalar>(_ input: Tensor<Input>) throws -> Tensor<Input>
    where Input.ComputeScalar == Scalar.ComputeScalar

    /// The backward pass for a forward pass through ``_callAsFunction(_:)``.
    func _backward<Input: NormScalar>(_ gradOutput: Tensor<Input>) throws -> Tensor<Input>
    where Input.ComputeScalar == Scalar.ComputeScalar

    /// Replaces one learnable parameter by name; see the default implementation's documentation.
    /// Modules override it only to skip the state-dict plan the default makes.
    func setParameter(named name: String, to value: Tensor<Scalar>) throws
}

/// A validated state-dict load: what it would leave missing or unused, and the step that
/// applies it.
public struct StateDictLoadPlan {
    /// Keys the module needs that the state dict lacks.
    public var missingKeys: [String]
    /// Keys of the state dict the module does not know.
    public var unexpectedKeys: [String]
    /// Writes the validated values into the module. It must not fail: everything that can go
    /// wrong is checked before the plan is made.
    public let commit: () -> Void

    /// A plan for a custom module: what a load would leave missing or unused, and the step that
    /// writes the already-validated values.
    public init(missingKeys: [String] = [], unexpectedKeys: [String] = [], commit: @escaping () -> Void) {
        self.missingKeys = missingKeys
        self.unexpectedKeys = unexpectedKeys
        self.commit = commit
    }
}

extension Module {
    /// The descendant at a dotted path of child names, as PyTorch's `get_submodule`:
    /// `"layer1.0.bn1"` is child `bn1` of child `0` of child `layer1`; `""` is the module itself.
    ///
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` naming the first name that
    ///   is not a child, and the children there are.
    public func submodule(_ path: String) throws -> any Module<Scalar> {
        var module: any Module<Scalar> = self
        var walked: [Substring] = []
        for name in path.split(separator: ".", omittingEmptySubsequences: false) where !path.isEmpty {
            guard let child = module.children.first(where: { $0.name == name })?.module else {
                let place = walked.isEmpty ? "the module" : "\"\(walked.joined(separator: "."))\""
                let names = module.children.map(\.name)
                throw NormError.invalidArgument(name: "path", expected: "a child of \(place): \(names.isEmpty ? "none" : names.joined(separator: ", "))",
                                                actual: "\"\(name)\" in \"\(path)\"")
            }
            module = child
            walked.append(name)
        }
        return module
    }

    public var children: [(name: String, module: any Module<Scalar>)] { [] }

    /// Sets training mode on this module and all its descendants.
    public func train(_ mode: Bool = true) {
        isTraining = mode
        for child in children { child.module.train(mode) }
    }

    /// Sets eval mode on this module and all its descendants; same as `train(false)`.
    public func eval() { train(false) }

    /// Parameters and buffers under PyTorch's names, each in its own dtype: parameters and
    /// running statistics in the module's scalar type (`F32` or `F64`), `num_batches_tracked` as
    /// `I64`, exactly as PyTorch's `state_dict()` holds them. Save it with ``SafeTensors``, or
    /// the module itself with ``save(to:metadata:)``.
    public func typedStateDict() -> StateDict {
        var result: StateDict = [:]
        for (name, value) in namedParameters() { result[name] = StateTensor(value) }
        for (name, value) in namedBuffers() { result[name] = value }
        return result
    }

    /// Parameters and buffers under PyTorch's names, all converted to `Scalar`: the
    /// ``typedStateDict()`` for code that computes with the values. `num_batches_tracked`
    /// becomes a `Scalar` too, exact up to 2²⁴ for `Float`; keep counts exactly with
    /// ``typedStateDict()``.
    public func stateDict() -> [String: Tensor<Scalar>] {
        typedStateDict().mapValues { $0.tensor(as: Scalar.self) }
    }

    /// Copies parameters and buffers from a state dict, converting each entry's dtype to the
    /// module's as PyTorch's `load_state_dict` does.
    ///
    /// Everything is validated before anything is written: a load that throws leaves the module
    /// exactly as it was. With `strict` (the default), missing and unexpected keys are an error;
    /// without it they are loaded around and returned, as PyTorch's `_IncompatibleKeys`.
    /// - Returns: the keys the module needs that `stateDict` lacks and the keys it does not
    ///   know, each sorted; both empty after a strict load.
    /// - Throws: ``NormError/stateDictKeyMismatch(missing:unexpected:)`` in strict mode, and the
    ///   errors of ``planStateDictLoad(_:)``.
    @discardableResult
    public func loadStateDict(_ stateDict: StateDict, strict: Bool = true) throws -> IncompatibleKeys {
        let plan = try planStateDictLoad(stateDict)
        let keys = IncompatibleKeys(missingKeys: plan.missingKeys.sorted(), unexpectedKeys: plan.unexpectedKeys.sorted())
        if strict && !keys.isEmpty {
            throw NormError.stateDictKeyMismatch(missing: keys.missingKeys, unexpected: keys.unexpectedKeys)
        }
        plan.commit()
        return keys
    }

    /// `loadStateDict(_:strict:)` from tensors of the module's scalar type (a
    /// `num_batches_tracked` among them must hold a whole number).
    @discardableResult
    public func loadStateDict(_ stateDict: [String: Tensor<Scalar>], strict: Bool = true) throws -> IncompatibleKeys {
        try loadStateDict(stateDict.mapValues { StateTensor($0) }, strict: strict)
    }

    /// Replaces one learnable parameter, by its state-dict name (`weight`, `0.bias`, …), with a
    /// tensor of the same shape: the step an optimizer takes, without building a state dict.
    ///
    /// ```swift
    /// for (name, weight) in model.namedParameters() {
    ///     let gradient = model.gradients()[name]!
    ///     try model.setParameter(named: name, to: sgdStep(weight, gradient))
    /// }
    /// ```
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` when `name` is not a
    ///   parameter of this module (buffers such as `running_mean` are not parameters), and
    ///   ``NormError/stateShapeMismatch(key:expected:actual:)`` for a tensor of another shape. A
    ///   call that throws changes nothing.
    public func setParameter(named name: String, to value: Tensor<Scalar>) throws {
        let names = namedParameters().map(\.name)
        guard names.contains(name) else {
            _ = try planStateDictLoad([:])   // a module that cannot load at all says why first
            throw NormError.unknownParameter(name, known: names)
        }
        try planStateDictLoad([name: StateTensor(value)]).commit()
    }
}

/// What a non-strict load left out, as PyTorch's `_IncompatibleKeys`: keys the module needs that
/// the state dict lacks, and keys of the state dict the module does not know.
public struct IncompatibleKeys: Equatable, Sendable, CustomStringConvertible {
    /// Keys the module needs that the state dict lacks, sorted. Their values were left as they were.
    public var missingKeys: [String]
    /// Keys of the state dict the module does not know, sorted. They were ignored.
    public var unexpectedKeys: [String]

    public init(missingKeys: [String] = [], unexpectedKeys: [String] = []) {
        self.missingKeys = missingKeys
        self.unexpectedKeys = unexpectedKeys
    }

    /// Whether every key matched.
    public var isEmpty: Bool { missingKeys.isEmpty && unexpectedKeys.isEmpty }

    public var description: String {
        isEmpty ? "<All keys matched successfully>"
            : "IncompatibleKeys(missingKeys: \(missingKeys), unexpectedKeys: \(unexpectedKeys))"
    }
}

