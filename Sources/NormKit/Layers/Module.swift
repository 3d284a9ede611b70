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

    /// The direct submodules with their names (`"0"`, `"1"`, … in a ``Sequential``).
    var children: [(name: String, module: any Module<Scalar>)] { get }

    /// The learnable tensors, by their state-dict names (`weight`, `bias`, `0.weight`, …).
    func namedParameters() -> [(name: String, value: Tensor<Scalar>)]

    /// The non-learnable state, by their state-dict names (`running_mean`, `running_var`,
    /// `num_batches_tracked`, …). `num_batches_tracked` is a shape-`[]` tensor.
    func namedBuffers() -> [(name: String, value: Tensor<Scalar>)]

    /// The accumulated gradients of the parameters, by parameter name. They start at zero and
    /// every ``backward(_:)`` adds to them until ``zeroGrad()``.
    func gradients() -> [String: Tensor<Scalar>]

    /// Resets every accumulated gradient to zero.
    func zeroGrad()

    /// Validates a state dict against this module without changing anything, and returns what a
    /// load would do. ``loadStateDict(_:strict:)`` commits it.
    /// - Throws: ``NormError/stateShapeMismatch(key:expected:actual:)`` and
    ///   ``NormError/invalidStateValue(key:expected:actual:)``.
    func planStateDictLoad(_ stateDict: [String: Tensor<Scalar>]) throws -> StateDictLoadPlan

    /// The forward pass.
    func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar>

    /// The backward pass of the last forward pass: returns ∂L/∂input for ∂L/∂output and adds
    /// the parameter gradients to ``gradients()``.
    func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar>

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
    public var children: [(name: String, module: any Module<Scalar>)] { [] }

    /// Sets training mode on this module and all its descendants.
    public func train(_ mode: Bool = true) {
        isTraining = mode
        for child in children { child.module.train(mode) }
    }

    /// Sets eval mode on this module and all its descendants; same as `train(false)`.
    public func eval() { train(false) }

    /// Parameters and buffers under PyTorch's names, ready for `loadStateDict` here or in PyTorch.
    public func stateDict() -> [String: Tensor<Scalar>] {
        var result: [String: Tensor<Scalar>] = [:]
        for (name, value) in namedParameters() + namedBuffers() { result[name] = value }
        return result
    }

    /// Copies parameters and buffers from a state dict.
    ///
    /// Everything is validated before anything is written: a load that throws leaves the module
    /// exactly as it was. With `strict` (the default), missing and unexpected keys are an error;
    /// without it they are ignored.
    /// - Throws: ``NormError/stateDictKeyMismatch(missing:unexpected:)`` in strict mode, and the
    ///   errors of ``planStateDictLoad(_:)``.
    public func loadStateDict(_ stateDict: [String: Tensor<Scalar>], strict: Bool = true) throws {
        let plan = try planStateDictLoad(stateDict)
        if strict && !(plan.missingKeys.isEmpty && plan.unexpectedKeys.isEmpty) {
            throw NormError.stateDictKeyMismatch(missing: plan.missingKeys.sorted(),
                                                 unexpected: plan.unexpectedKeys.sorted())
        }
        plan.commit()
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
            throw NormError.invalidArgument(name: "parameter name", expected: "one of \(names)", actual: "\"\(name)\"")
        }
        try planStateDictLoad([name: value]).commit()
    }
}

