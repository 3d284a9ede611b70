import NormKit

/// The state ``Conv2d`` and ``Linear`` share: a weight, an optional bias, their accumulated
/// gradients, and NormKit's module contract over them (`weight` and `bias` under PyTorch's
/// names, so `Sequential` prefixes them to `"0.weight"` and `Module.setParameter(named:to:)`
/// updates them as it does a normalization layer's).
public class WeightedLayer<Scalar: LabScalar>: Module {
    public var isTraining = true
    /// The learnable weight.
    public internal(set) var weight: Tensor<Scalar>
    /// The learnable bias; `nil` for a layer built with `bias: false`.
    public internal(set) var bias: Tensor<Scalar>?
    var weightGradient: Tensor<Scalar>
    var biasGradient: Tensor<Scalar>?

    /// The name errors use ("Conv2d", "Linear").
    var layerName: String { String(String(describing: type(of: self)).prefix { $0 != "<" }) }

    init(weight: Tensor<Scalar>, bias: Tensor<Scalar>?) {
        self.weight = weight
        self.bias = bias
        weightGradient = LabDispatch.zeros(weight.shape)
        biasGradient = bias.map { LabDispatch.zeros($0.shape) }
    }

    public func callAsFunction(_ input: Tensor<Scalar>) throws -> Tensor<Scalar> {
        fatalError("\(type(of: self)) must override callAsFunction(_:)")
    }

    public func backward(_ gradOutput: Tensor<Scalar>) throws -> Tensor<Scalar> {
        fatalError("\(type(of: self)) must override backward(_:)")
    }

    public func namedParameters() -> [(name: String, value: Tensor<Scalar>)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func namedBuffers() -> [(name: String, value: StateTensor)] { [] }

    public func gradients() -> [String: Tensor<Scalar>] {
        var result = ["weight": weightGradient]
        result["bias"] = biasGradient
        return result
    }

    public func zeroGrad() {
        weightGradient = LabDispatch.zeros(weightGradient.shape)
        biasGradient = biasGradient.map { LabDispatch.zeros($0.shape) }
    }

    /// Validates the entries it knows, converted to `Scalar` whatever their dtype; a partial state
    /// dict is allowed (missing keys are reported in the plan, and strict loading turns them into
    /// an error).
    public func planStateDictLoad(_ stateDict: StateDict) throws -> StateDictLoadPlan {
        var accepted: [String: Tensor<Scalar>] = [:]
        var missing: [String] = []
        for (name, current) in namedParameters() {
            guard let value = stateDict[name] else {
                missing.append(name)
                continue
            }
            guard value.shape == current.shape else {
                throw NormError.stateShapeMismatch(key: name, expected: current.shape, actual: value.shape)
            }
            accepted[name] = value.tensor(as: Scalar.self)
        }
        let known = Set(namedParameters().map(\.name))
        let unexpected = stateDict.keys.filter { !known.contains($0) }
        return StateDictLoadPlan(missingKeys: missing, unexpectedKeys: unexpected) { [self] in
            if let value = accepted["weight"] { weight = value }
            if let value = accepted["bias"] { bias = value }
        }
    }

    /// Replaces `weight` or `bias` by a tensor of the same shape: `Module.setParameter(named:to:)`
    /// with the same checks and errors, without planning a state-dict load (statically typed
    /// callers such as ``SGD`` take this path; calls through `any Module` reach NormKit's).
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` for another name, and
    ///   ``NormError/stateShapeMismatch(key:expected:actual:)`` for another shape. A call that
    ///   throws changes nothing.
    public func setParameter(named name: String, to value: Tensor<Scalar>) throws {
        let current: Tensor<Scalar>
        switch name {
        case "weight": current = weight
        case "bias" where bias != nil: current = bias!
        default:
            let names = bias == nil ? ["weight"] : ["weight", "bias"]
            throw NormError.invalidArgument(name: "parameter name", expected: "one of \(names)", actual: "\"\(name)\"")
        }
        guard value.shape == current.shape else {
            throw NormError.stateShapeMismatch(key: name, expected: current.shape, actual: value.shape)
        }
        if name == "weight" { weight = value.withMemoryFormat(.contiguous) } else { bias = value.withMemoryFormat(.contiguous) }
    }

    /// Adds parameter gradients to the accumulated ones.
    func accumulate(weight dw: [Scalar], bias db: [Scalar]?) throws {
        weightGradient = try Tensor(shape: weight.shape, scalars: LabDispatch.add(weightGradient.scalars, dw))
        if let gradient = biasGradient, let db {
            biasGradient = try Tensor(shape: gradient.shape, scalars: LabDispatch.add(gradient.scalars, db))
        }
    }

    /// Throws unless `gradOutput` has the shape of the last output.
    func checkGradient(_ gradOutput: Tensor<Scalar>, expected: [Int]) throws {
        guard gradOutput.shape == expected else {
            throw NormError.gradientShapeMismatch(expected: expected, actual: gradOutput.shape)
        }
    }
}

/// A module without parameters or buffers (``ReLU``, the pools, ``Flatten``): the module
/// contract's bookkeeping is empty.
public protocol ParameterFreeModule: Module {}

extension ParameterFreeModule {
    public func namedParameters() -> [(name: String, value: Tensor<Scalar>)] { [] }
    public func namedBuffers() -> [(name: String, value: StateTensor)] { [] }
    public func gradients() -> [String: Tensor<Scalar>] { [:] }
    public func zeroGrad() {}
    public func planStateDictLoad(_ stateDict: StateDict) throws -> StateDictLoadPlan {
        StateDictLoadPlan(unexpectedKeys: Array(stateDict.keys)) {}
    }
}

/// The name errors use for a parameter-free layer.
func layerName(of layer: AnyObject) -> String {
    String(String(describing: type(of: layer)).prefix { $0 != "<" })
}

/// Kaiming (He) normal initialization, "Delving deep into rectifiers" (arXiv:1502.01852):
/// w ~ N(0, 2 / fan_in), PyTorch's `kaiming_normal_(w, nonlinearity="relu")`, drawn from a
/// seeded generator so that the same seed gives the same network.
public func kaimingNormal<Scalar: LabScalar>(shape: [Int], fanIn: Int, using generator: inout SeededGenerator) -> Tensor<Scalar> {
    Tensor<Scalar>.randomNormal(shape: shape, std: (2.0 / Double(max(fanIn, 1))).squareRoot(), using: &generator)
}
