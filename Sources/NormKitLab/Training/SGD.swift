import NormKit

/// Stochastic gradient descent with momentum and weight decay, PyTorch's `torch.optim.SGD`
/// (dampening 0, no Nesterov), applied through NormKit's parameter-update API
/// `Module.setParameter(named:to:)`, so it updates any module tree: NormKit's normalization
/// layers and any other module through that API, the lab's ``Conv2d`` and ``Linear`` through
/// their own `setParameter(named:to:)` with the same contract.
///
/// For each parameter p with gradient g: d = g + λ·p; v ← μ·v + d (v = d on the first step);
/// p ← p − η·v.
public final class SGD<Scalar: LabScalar> {
    /// η; the trainer changes it every step to follow its schedule.
    public var learningRate: Double
    /// μ, default 0.
    public let momentum: Double
    /// λ, default 0 (applied to every parameter).
    public let weightDecay: Double
    /// The momentum buffers, by parameter name.
    public private(set) var velocity: [String: [Scalar]] = [:]

    public init(learningRate: Double, momentum: Double = 0, weightDecay: Double = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    /// One step for every parameter of `model`, with `gradients` by state-dict name (by default
    /// the model's accumulated ones).
    ///
    /// The step walks the module tree and updates each parameter on the module that owns it,
    /// `leaf.setParameter(named: "weight", to: …)`, with the gradient and momentum buffer of its
    /// full name (`"3.weight"`, PyTorch's naming: a child's names prefixed by its name and a dot).
    /// Going through the root instead would make every update re-plan a state-dict load over the
    /// whole tree. Containers (modules with children) are assumed to have no parameters of
    /// their own, as `Sequential`.
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` when a parameter has no
    ///   gradient of its shape, and the errors of `setParameter(named:to:)`.
    public func step(_ model: any Module<Scalar>, gradients: [String: Tensor<Scalar>]? = nil) throws {
        let gradients = gradients ?? model.gradients()
        let options = SGDStepOptions(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
        func visit(_ module: any Module<Scalar>, prefix: String) throws {
            let children = module.children
            guard children.isEmpty else {
                for child in children { try visit(child.module, prefix: prefix + child.name + ".") }
                return
            }
            for (name, parameter) in module.namedParameters() {
                let fullName = prefix + name
                guard let gradient = gradients[fullName], gradient.shape == parameter.shape else {
                    throw NormError.invalidArgument(
                        name: "gradient of \(fullName)", expected: "a tensor of shape \(parameter.shape)",
                        actual: gradients[fullName].map { "shape \($0.shape)" } ?? "none")
                }
                guard case let .outputs(updated, newVelocity) = LabDispatch.call(LabKernelCall<Scalar>.Request.sgdStep(
                    parameter: parameter.scalars, gradient: gradient.scalars, velocity: velocity[fullName],
                    options: options)) else {
                    fatalError("lab kernel response")
                }
                let value = try Tensor(shape: parameter.shape, scalars: updated)
                if let layer = module as? WeightedLayer<Scalar> {
                    try layer.setParameter(named: name, to: value)   // the lab's own, same API
                } else {
                    try module.setParameter(named: name, to: value)  // NormKit's, for the normalization layers
                }
                velocity[fullName] = newVelocity
            }
        }
        try visit(model, prefix: "")
    }
}

/// The gradient step of PyTorch's `DistributedDataParallel`: every parameter gradient, walked in
/// `namedParameters()` order (the same on every rank, unlike a dictionary's), is concatenated
/// into one buffer, summed over the ranks of `group` with one all-reduce, and divided by the
/// number of ranks. With equal shards, the result is the gradient of the mean loss over the
/// global batch. Without a group (or with one rank) the model's own gradients come back.
public func averagedGradients<Scalar: LabScalar>(
    _ model: any Module<Scalar>, over group: (any ProcessGroup)?
) throws -> [String: Tensor<Scalar>] {
    let local = model.gradients()
    guard let group, group.size > 1 else { return local }
    let parameters = model.namedParameters()
    var buffer: [Scalar] = []
    for (name, parameter) in parameters {
        guard let gradient = local[name] else {
            throw NormError.invalidArgument(name: "gradient of \(name)", expected: "a tensor", actual: "none")
        }
        precondition(gradient.count == parameter.count, "gradient of \(name) has the wrong size")
        buffer.append(contentsOf: gradient.scalars)
    }
    try Scalar._allReduceSum(&buffer, in: group)
    let averaged = LabDispatch.scale(buffer, by: 1 / Double(group.size))
    var result: [String: Tensor<Scalar>] = [:]
    var offset = 0
    for (name, parameter) in parameters {
        result[name] = try Tensor(shape: parameter.shape, scalars: Array(averaged[offset..<(offset + parameter.count)]))
        offset += parameter.count
    }
    return result
}
