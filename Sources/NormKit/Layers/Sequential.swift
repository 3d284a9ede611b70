/// A container that chains modules, like PyTorch's `torch.nn.Sequential`, with children named
/// by index or, as `nn.Sequential(OrderedDict(...))`, by name.
///
/// - Forward: y = f_{k−1}(… f_1(f_0(x))), in the children's order.
/// - Backward: the children's backward passes in reverse order, each from its own last forward.
/// - Names: built with ``init(_:)-([Module<Scalar>])``, child `i` is `"i"`; built with
///   ``init(named:)-8eqr5``, each child has the name given. A child's
///   state lives under its name and a dot: `"0.weight"`, `"1.running_mean"`, and, for a
///   Sequential nested as `"layer1"`, `"layer1.0.bn1.running_mean"` — PyTorch's state-dict keys
///   (see ``ModuleContainer``).
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
///
/// let named = try Sequential<Float>(named: ["bn1": BatchNorm2d(numFeatures: 3),
///                                           "norm": GroupNorm(numGroups: 1, numChannels: 3)])
/// named.stateDict().keys  // "bn1.weight", …, "bn1.num_batches_tracked", "norm.weight", "norm.bias"
/// ```
public final class Sequential<Scalar: NormScalar>: ModuleContainer {
    public var isTraining = true
    /// The chained modules, in forward order.
    public private(set) var layers: [any Module<Scalar>]
    /// The children's names, in forward order: `"0"`, `"1"`, … or the names given to
    /// ``init(named:)-8eqr5``.
    public let names: [String]

    /// Chains `layers` in forward order, naming them `"0"`, `"1"`, …; with no layers, forward
    /// and backward return their argument. The children keep their own modes until `train(_:)`
    /// or `eval()` on the container sets them all.
    public init(_ layers: [any Module<Scalar>]) {
        self.layers = layers
        self.names = layers.indices.map(String.init)
    }

    /// Chains the modules given, in forward order, under the names given, as
    /// `torch.nn.Sequential(OrderedDict([("bn1", …), …]))`:
    ///
    /// ```swift
    /// let block = try Sequential<Float>(named: [("bn1", BatchNorm2d(numFeatures: 8)),
    ///                                           ("downsample", Sequential(named: [("1", BatchNorm2d(numFeatures: 8))]))])
    /// ```
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` for an empty name, a name
    ///   with a `.` (the separator of state-dict keys) or a name given twice, as PyTorch's
    ///   `add_module` refuses them.
    public init(named children: [(String, any Module<Scalar>)]) throws {
        try validateChildNames(children.map(\.0))
        self.layers = children.map(\.1)
        self.names = children.map(\.0)
    }

    /// ``init(named:)-8eqr5`` from a dictionary literal, whose order it keeps:
    /// `try Sequential(named: ["bn1": BatchNorm2d(numFeatures: 8), "bn2": …])`.
    /// - Throws: as ``init(named:)-8eqr5``.
    public convenience init(named children: KeyValuePairs<String, any Module<Scalar>>) throws {
        try self.init(named: children.map { ($0.key, $0.value) })
    }

    /// Chains the modules given, in forward order, as ``init(_:)-([Module<Scalar>])``.
    public convenience init(_ layers: any Module<Scalar>...) {
        self.init(layers)
    }

    /// The module at `index`.
    public subscript(index: Int) -> any Module<Scalar> { layers[index] }

    /// The child named `name` (`"bn1"`, or `"0"` for an unnamed Sequential), or `nil`.
    public subscript(name: String) -> (any Module<Scalar>)? {
        names.firstIndex(of: name).map { layers[$0] }
    }

    public var children: [(name: String, module: any Module<Scalar>)] {
        Array(zip(names, layers))
    }

    /// Runs every child in order on the previous child's output: y = f_{k−1}(… f_0(x)). The
    /// shapes are whatever each child accepts and returns.
    /// - Throws: the first child error, as ``NormError/inSubmodule(path:module:underlying:)``.
    public func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> { try _callAsFunction(input) }

    /// ``callAsFunction(_:)`` on input of another type that computes in the same type (16-bit
    /// input of a `Float` model): each child gets the previous child's output in that type.
    public func _callAsFunction<Input: NormScalar>(_ input: Tensor<Input>) throws -> Tensor<Input>
    where Input.ComputeScalar == Scalar.ComputeScalar {
        var x = input
        for (name, layer) in zip(names, layers) {
            do {
                x = try layer._callAsFunction(x)
            } catch let error as NormError {
                throw error.inSubmodule(name, layer)
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
    public func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar> { try _backward(gradOutput) }

    /// ``backward(_:)`` for a forward pass through ``_callAsFunction(_:)``.
    public func _backward<Input: NormScalar>(_ gradOutput: Tensor<Input>) throws -> Tensor<Input>
    where Input.ComputeScalar == Scalar.ComputeScalar {
        if let (first, again) = firstRepeatedModule() {
            throw NormError.invalidArgument(
                name: "the modules of a Sequential", expected: "distinct instances for backward, since each layer keeps only its last forward pass",
                actual: "the same instance at \"\(first)\" and \"\(again)\"")
        }
        var dy = gradOutput
        for (name, layer) in zip(names, layers).reversed() {
            do {
                dy = try layer._backward(dy)
            } catch let error as NormError {
                throw error.inSubmodule(name, layer)
            }
        }
        return dy
    }
}

extension Sequential: CustomStringConvertible {
    /// The tree as PyTorch prints a `torch.nn.Sequential`: each child on its own line as
    /// `(name): description`, nested containers indented by two spaces.
    public var description: String {
        guard !layers.isEmpty else { return "Sequential()" }
        let lines = children.map { child in
            let text = String(describing: child.module).split(separator: "\n", omittingEmptySubsequences: false)
            return "  (\(child.name)): " + text.joined(separator: "\n  ")
        }
        return "Sequential(\n" + lines.joined(separator: "\n") + "\n)"
    }
}

extension Sequential {
    /// Replaces each child by `transform(child)`, under the same name. A transform that would
    /// put this Sequential inside itself is a programming error and traps (the tree would have
    /// no end).
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
