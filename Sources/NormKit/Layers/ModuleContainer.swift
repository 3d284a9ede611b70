/// A module whose state is its named children's, like a PyTorch `nn.Module` whose attributes are
/// submodules: ``Sequential``, or a block of your own with `bn1`, `bn2` and a `downsample`.
///
/// Conforming gives, from ``Module/children`` alone:
/// - state-dict names nested with dots exactly as PyTorch's: child `layer1`'s child `0`'s child
///   `bn1` holds `layer1.0.bn1.running_mean`;
/// - ``Module/namedParameters()``, ``Module/namedBuffers()``, ``Module/gradients()``,
///   ``Module/zeroGrad()``, ``Module/setParameter(named:to:)`` and
///   ``Module/planStateDictLoad(_:)`` over the children (implement them yourself for a container
///   with parameters of its own);
/// - tree rewrites such as ``convertSyncBatchNorm(_:processGroup:)``, through
///   ``replaceChildren(_:)``.
///
/// Child names follow PyTorch's `add_module` rules: non-empty, without `.`, unique among the
/// children (see ``Sequential/init(named:)-8eqr5``, which checks them).
///
/// ```swift
/// final class BasicBlock: ModuleContainer {
///     var isTraining = true
///     private(set) var bn1: any Module<Float> = BatchNorm2d(numFeatures: 8)
///     private(set) var bn2: any Module<Float> = GroupNorm(numGroups: 2, numChannels: 8)
///     var children: [(name: String, module: any Module<Float>)] { [("bn1", bn1), ("bn2", bn2)] }
///     func replaceChildren(_ transform: (any Module<Float>) -> any Module<Float>) {
///         bn1 = transform(bn1); bn2 = transform(bn2)
///     }
///     func callAsFunction(_ x: Tensor<Float>) throws -> Tensor<Float> { try bn2(bn1(x)) }
///     func backward(_ dy: Tensor<Float>) throws -> Tensor<Float> { try bn1.backward(bn2.backward(dy)) }
/// }
/// ```
public protocol ModuleContainer<Scalar>: Module {
    /// Replaces each direct child by `transform(child)`, keeping its name.
    func replaceChildren(_ transform: (any Module<Scalar>) -> any Module<Scalar>)
}

extension ModuleContainer {
    /// Every child's parameters, each name prefixed by the child's name and a dot
    /// (`"layer1.0.bn1.weight"`), in child order.
    public func namedParameters() -> [(name: String, value: Tensor<Scalar>)] {
        children.flatMap { child in child.module.namedParameters().map { ("\(child.name).\($0.name)", $0.value) } }
    }

    /// Every child's buffers, each name prefixed by the child's name and a dot
    /// (`"layer1.0.bn1.running_mean"`), in child order.
    public func namedBuffers() -> [(name: String, value: StateTensor)] {
        children.flatMap { child in child.module.namedBuffers().map { ("\(child.name).\($0.name)", $0.value) } }
    }

    /// Every child's accumulated gradients under the prefixed parameter names.
    public func gradients() -> [String: Tensor<Scalar>] {
        var result: [String: Tensor<Scalar>] = [:]
        for child in children {
            for (name, gradient) in child.module.gradients() { result["\(child.name).\(name)"] = gradient }
        }
        return result
    }

    /// Resets every child's accumulated gradients to zero.
    public func zeroGrad() {
        for child in children { child.module.zeroGrad() }
    }

    /// ``Module/setParameter(named:to:)`` routed to the child named by the prefix
    /// (`"layer1.0.bn1.weight"` reaches child `layer1`'s child `0`'s child `bn1`).
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` for a name that is not a
    ///   parameter of the tree, and ``NormError/stateShapeMismatch(key:expected:actual:)``, with
    ///   the full name, for a tensor of another shape. A refused call changes nothing.
    public func setParameter(named name: String, to value: Tensor<Scalar>) throws {
        if let dot = name.firstIndex(of: "."), let child = children.first(where: { $0.name == name[..<dot] }),
           (try? child.module.setParameter(named: String(name[name.index(after: dot)...]), to: value)) != nil {
            return
        }
        let names = namedParameters().map { $0.name }
        guard names.contains(name) else {
            throw NormError.unknownParameter(name, known: names)
        }
        try planStateDictLoad([name: StateTensor(value)]).commit()
    }

    /// Plans every child's load from the keys under its prefix (`"bn1."`); keys under no child's
    /// prefix are unexpected, and every missing or unexpected key is returned with its full
    /// dotted path (`"layer1.1.downsample.0.weight"`). Nothing is written until the plan commits,
    /// so a failed load leaves the whole tree unchanged.
    /// - Throws: the first child error. ``NormError/stateShapeMismatch(key:expected:actual:)``
    ///   and ``NormError/invalidStateValue(key:expected:actual:)`` name the full key, as
    ///   PyTorch's do; other errors arrive as ``NormError/inSubmodule(path:module:underlying:)``.
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
}

/// Checks the names of a container's children as PyTorch's `add_module` does: each non-empty,
/// without `.` (a dot separates the levels of a state-dict key), and none twice.
/// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` naming the first bad name.
func validateChildNames(_ names: [String]) throws {
    var seen = Set<String>()
    for name in names {
        guard !name.isEmpty, !name.contains(".") else {
            throw NormError.invalidArgument(name: "child name", expected: "a non-empty name without \".\"",
                                            actual: "\"\(name)\"")
        }
        guard seen.insert(name).inserted else {
            throw NormError.invalidArgument(name: "child name", expected: "unique among the children",
                                            actual: "\"\(name)\" twice")
        }
    }
}

extension NormError {
    /// This error as thrown by the child `name` of a container: wrapped once, with the path of
    /// nested containers joined by dots (`"layer1.0"`).
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
