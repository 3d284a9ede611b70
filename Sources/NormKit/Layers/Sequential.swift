/// A container that chains modules, like PyTorch's `torch.nn.Sequential`.
///
/// - Forward: y = f_{k−1}(… f_1(f_0(x))).
/// - Backward: the children's backward passes in reverse order, each from its own last forward.
/// - Names: child `i` is `"i"`, and its state lives under the prefix `"i."`: `"0.weight"`,
///   `"1.running_mean"`, and, for a Sequential nested at index 0, `"0.1.weight"` — PyTorch's
///   state-dict keys.
/// - `train()` / `eval()` recurse into every child.
/// - ``planStateDictLoad(_:)`` validates every child before any is written, so a failed load
///   leaves the whole tree unchanged.
/// - A forward or backward pass that throws in child k leaves children before k as they are
///   after their own successful calls (each child's own call is atomic), as in PyTorch.
/// - Errors name the child that threw: a ``NormError`` from child `"1.0"` arrives as
///   ``NormError/inSubmodule(path:module:underlying:)``, whose description reads
///   `1.0: BatchNorm2d: expected 4D input (got 3D input)`; ``NormError/underlyingError`` is the
///   child's own error. State-dict errors name the full key instead (`"1.0.weight"`), as PyTorch's do.
/// - ``description`` prints the tree as PyTorch's `repr` does.
///
/// ```swift
/// let model = Sequential<Float>(BatchNorm2d(numFeatures: 3), Sequential(BatchNorm2d(numFeatures: 3)))
/// model.stateDict().keys  // "0.weight", …, "1.0.running_var", …
/// ```
public final class Sequential<Scalar: NormScalar>: Module {
    public var isTraining = true
    /// The chained modules, in forward order.
    public private(set) var layers: [any Module<Scalar>]

    /// Chains `layers` in forward order; with no layers, forward and backward return their
    /// argument. The children keep their own modes until `train(_:)` or `eval()` on the
    /// container sets them all.
    public init(_ layers: [any Module<Scalar>]) {
        self.layers = layers
    }

    /// Chains the modules given, in forward order, as ``init(_:)-([Module<Scalar>])``.
    public convenience init(_ layers: any Module<Scalar>...) {
        self.init(layers)
    }

    /// The module at `index`.
    public subscript(index: Int) -> any Module<Scalar> { layers[index] }

    public var children: [(name: String, module: any Module<Scalar>)] {
        layers.enumerated().map { ("\($0.offset)", $0.element) }
    }

    public func namedParameters() -> [(name: String, value: Tensor<Scalar>)] {
        children.flatMap { child in child.module.namedParameters().map { ("\(child.name).\($0.name)", $0.value) } }
    }

    public func namedBuffers() -> [(name: String, value: StateTensor)] {
        children.flatMap { child in child.module.namedBuffers().map { ("\(child.name).\($0.name)", $0.value) } }
    }

    public func gradients() -> [String: Tensor<Scalar>] {
        var result: [String: Tensor<Scalar>] = [:]
        for child in children {
            for (name, gradient) in child.module.gradients() { result["\(child.name).\(name)"] = gradient }
        }
        return result
    }

    public func zeroGrad() {
        for layer in layers { layer.zeroGrad() }
    }

    /// ``Module/setParameter(named:to:)`` routed to the child named by the prefix (`"1.0.weight"`
    /// reaches layer 1's layer 0). A name the child refuses gets the default's error, with the
    /// full name, from a state-dict plan; a refused call changes nothing either way.
    public func setParameter(named name: String, to value: Tensor<Scalar>) throws {
        if let dot = name.firstIndex(of: "."), let index = Int(name[..<dot]), layers.indices.contains(index),
           (try? layers[index].setParameter(named: String(name[name.index(after: dot)...]), to: value)) != nil {
            return
        }
        let names = namedParameters().map { $0.name }
        guard names.contains(name) else {
            throw NormError.invalidArgument(name: "parameter name", expected: "one of \(names)", actual: "\"\(name)\"")
        }
        try planStateDictLoad([name: StateTensor(value)]).commit()
    }

    /// Plans every child's load from the keys under its prefix; keys under no child's prefix are
    /// unexpected. Throws the first child error, with the key given its full prefixed name.
    public func planStateDictLoad(_ stateDict: StateDict) throws -> StateDictLoadPlan {
        var plans: [StateDictLoadPlan] = []
        var missing: [String] = [], unexpected: [String] = []
        var claimed = Set<String>()
        for child in children {
            let prefix = child.name + "."
            var own: StateDict = [:]
            for (key, value) in stateDict where key.hasPrefix(prefix) {
                own[String(key.dropFirst(prefix.count))] = value
                claimed.insert(key)
            }
            let plan: StateDictLoadPlan
            do {
                plan = try child.module.planStateDictLoad(own)
            } catch let NormError.stateShapeMismatch(key, expected, actual) {
                throw NormError.stateShapeMismatch(key: prefix + key, expected: expected, actual: actual)
            } catch let NormError.invalidStateValue(key, expected, actual) {
                throw NormError.invalidStateValue(key: prefix + key, expected: expected, actual: actual)
            } catch let error as NormError {
                throw error.inSubmodule(child.name, child.module)
            }
            missing += plan.missingKeys.map { prefix + $0 }
            unexpected += plan.unexpectedKeys.map { prefix + $0 }
            plans.append(plan)
        }
        unexpected += stateDict.keys.filter { !claimed.contains($0) }
        return StateDictLoadPlan(missingKeys: missing, unexpectedKeys: unexpected) {
            for plan in plans { plan.commit() }
        }
    }

    /// Runs every child in order on the previous child's output: y = f_{k−1}(… f_0(x)). The
    /// shapes are whatever each child accepts and returns.
    /// - Throws: the first child error, as ``NormError/inSubmodule(path:module:underlying:)``.
    public func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> {
        var x = input
        for (index, layer) in layers.enumerated() {
            do {
                x = try layer(x)
            } catch let error as NormError {
                throw error.inSubmodule("\(index)", layer)
            }
        }
        return x
    }

    /// Returns ∂L/∂x for the last forward pass: each child's ``Module/backward(_:)`` in reverse
    /// order, from its own last forward pass; `gradOutput` has the shape of the last output.
    /// Parameter gradients accumulate in the children.
    /// - Throws: the first child error, as ``NormError/inSubmodule(path:module:underlying:)``;
    ///   ``NormError/invalidArgument(name:expected:actual:)`` before any child runs when one module
    ///   instance occurs twice in the tree: each layer keeps only its last forward pass, so the
    ///   gradient through its first use would be silently wrong. (Sharing a module in forward
    ///   passes alone is fine, and updates its running statistics once per use, as in PyTorch.)
    public func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar> {
        if let (first, again) = firstRepeatedModule() {
            throw NormError.invalidArgument(
                name: "the modules of a Sequential", expected: "distinct instances for backward, since each layer keeps only its last forward pass",
                actual: "the same instance at \"\(first)\" and \"\(again)\"")
        }
        var dy = gradOutput
        for (index, layer) in layers.enumerated().reversed() {
            do {
                dy = try layer.backward(dy)
            } catch let error as NormError {
                throw error.inSubmodule("\(index)", layer)
            }
        }
        return dy
    }
}

extension Sequential: CustomStringConvertible {
    /// The tree as PyTorch prints a `torch.nn.Sequential`: each child on its own line as
    /// `(index): description`, nested containers indented by two spaces.
    public var description: String {
        guard !layers.isEmpty else { return "Sequential()" }
        let lines = children.map { child in
            let text = String(describing: child.module).split(separator: "\n", omittingEmptySubsequences: false)
            return "  (\(child.name)): " + text.joined(separator: "\n  ")
        }
        return "Sequential(\n" + lines.joined(separator: "\n") + "\n)"
    }
}

extension NormError {
    /// This error as thrown by the child `name` of a container: wrapped once, with the path of
    /// nested containers joined by dots (`"1.0"`).
    func inSubmodule<Scalar>(_ name: String, _ module: any Module<Scalar>) -> NormError {
        if case let .inSubmodule(path, type, underlying) = self {
            return .inSubmodule(path: name + "." + path, module: type, underlying: underlying)
        }
        return .inSubmodule(path: name, module: moduleTypeName(module), underlying: self)
    }
}

/// A module's type name without its generic arguments: `BatchNorm2d`, `Sequential`.
func moduleTypeName<Scalar>(_ module: any Module<Scalar>) -> String {
    String(String(describing: type(of: module)).prefix { $0 != "<" })
}

/// A module whose children can be swapped, so that tree rewrites such as
/// ``convertSyncBatchNorm(_:processGroup:)`` reach into it. Conform your own containers to it.
public protocol ModuleContainer<Scalar>: Module {
    /// Replaces each direct child by `transform(child)`.
    func replaceChildren(_ transform: (any Module<Scalar>) -> any Module<Scalar>)
}

extension Sequential: ModuleContainer {
    /// Replaces each child by `transform(child)`. A transform that would put this Sequential
    /// inside itself is a programming error and traps (the tree would have no end).
    public func replaceChildren(_ transform: (any Module<Scalar>) -> any Module<Scalar>) {
        let replaced = layers.map(transform)
        precondition(!replaced.contains { contains(self, in: $0) }, "replaceChildren: a Sequential cannot contain itself")
        layers = replaced
    }

    /// The paths of the first module instance found twice in this tree (depth first, in child
    /// order), or `nil`. Iterative, and stops at a repeated instance, so it ends on any tree.
    func firstRepeatedModule() -> (first: String, again: String)? {
        var seen: [ObjectIdentifier: String] = [:]
        var stack = children.reversed().map { (path: $0.name, module: $0.module) }
        while let (path, module) = stack.popLast() {
            if let first = seen[ObjectIdentifier(module)] { return (first, path) }
            seen[ObjectIdentifier(module)] = path
            stack += module.children.reversed().map { (path + "." + $0.name, $0.module) }
        }
        return nil
    }
}

/// Whether `target` is `module` or one of its descendants.
func contains<Scalar>(_ target: AnyObject, in module: any Module<Scalar>) -> Bool {
    var stack: [any Module<Scalar>] = [module], seen = Set<ObjectIdentifier>()
    while let next = stack.popLast() {
        if next === target { return true }
        guard seen.insert(ObjectIdentifier(next)).inserted else { continue }
        stack += next.children.map(\.module)
    }
    return false
}
