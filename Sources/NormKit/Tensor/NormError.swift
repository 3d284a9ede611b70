/// Every error NormKit throws. Each case carries what was expected and what was given, and its
/// ``description`` reads like PyTorch's message for the same mistake.
///
/// A call that throws changes nothing: running statistics, `numBatchesTracked`, accumulated
/// gradients and loaded parameters are exactly as they were before the call.
public enum NormError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A shape has a negative dimension, or more elements than `Int` can count.
    case invalidShape([Int])
    /// The number of scalars does not match the product of the shape.
    case scalarCountMismatch(shape: [Int], expected: Int, actual: Int)
    /// The input has a rank the layer does not accept; `expected` lists the accepted ranks.
    case wrongRank(layer: String, expected: [Int], actual: Int)
    /// The input has fewer dimensions than the operation needs.
    case rankTooSmall(layer: String, minimum: Int, actual: Int)
    /// The input's channel dimension does not match the layer's `numFeatures`/`numChannels`.
    case wrongChannelCount(layer: String, expected: Int, actual: Int)
    /// BatchNorm in training mode saw at most one value per channel; `shape` is the input's.
    case tooFewValuesPerChannel(shape: [Int])
    /// InstanceNorm with input statistics saw at most one spatial element per channel.
    case tooFewSpatialElements(shape: [Int])
    /// `numChannels` is not divisible by `numGroups`.
    case groupsDoNotDivideChannels(groups: Int, channels: Int)
    /// The trailing dimensions of the input are not the layer's normalized shape.
    case normalizedShapeMismatch(normalizedShape: [Int], inputShape: [Int])
    /// An argument is out of its domain: a constructor's (a negative number of features), a
    /// parameter name, or a tensor of a ``Functional`` call whose shape or values do not fit.
    case invalidArgument(name: String, expected: String, actual: String)
    /// `backward` was called before any forward pass.
    case backwardBeforeForward(layer: String)
    /// The upstream gradient's shape is not the shape of the last forward output.
    case gradientShapeMismatch(expected: [Int], actual: [Int])
    /// Strict loading found keys the module needs but the state dict lacks (`missing`), or keys
    /// the module does not know (`unexpected`).
    case stateDictKeyMismatch(missing: [String], unexpected: [String])
    /// A state-dict entry has the wrong shape.
    case stateShapeMismatch(key: String, expected: [Int], actual: [Int])
    /// A state-dict entry has a value outside its domain (a negative or fractional counter).
    case invalidStateValue(key: String, expected: String, actual: String)
    /// A collective waited longer than the group's timeout for the other ranks; `arrived` lists
    /// the ranks that had entered it (``LocalProcessGroup``), or is empty when the backend cannot
    /// tell (`MPIProcessGroup`). The group is broken from then on.
    case collectiveTimeout(operation: String, rank: Int, timeout: Double, arrived: [Int], size: Int)
    /// A collective was called on a process group that an earlier timeout (or, under MPI, a
    /// failed MPI call inside a collective) broke; `cause` describes that failure.
    case processGroupBroken(cause: String)
    /// The ranks entered one collective with different operations, element types or counts.
    case collectiveMismatch(operation: String, expected: String, actual: String)
    /// Ranks of a process group disagree on a layer's configuration (`field`, for example the
    /// number of features or the dtype) in a synchronized layer.
    case rankMismatch(layer: String, field: String, rank: Int, expected: String, actual: String)
    /// Another rank failed its own checks inside a synchronized call, so this rank stops too;
    /// `rank` is `nil` when several ranks failed.
    case peerRankFailed(layer: String, rank: Int?)
    /// An MPI function returned an error code; `message` is `MPI_Error_string`'s text.
    case mpiError(function: String, code: Int, message: String)
    /// This rank failed its own checks inside a synchronized call (`local`, the error it would
    /// otherwise throw), and the collective that tells the other ranks so failed too
    /// (`collective`, typically ``collectiveTimeout(operation:rank:timeout:arrived:size:)``, after
    /// which the group is broken). Both are reported because each needs its own fix.
    indirect case unreportedLocalFailure(local: NormError, collective: NormError)
    /// A tensor passed to a function has the wrong shape: a weight, bias or running statistic of
    /// a ``Functional`` call, or the input handed to
    /// ``Functional/normalizationBackward(gradOutput:input:saved:weight:needsAffineGradients:)``.
    /// (Tensors loaded from a state dict report ``stateShapeMismatch(key:expected:actual:)``.)
    case argumentShapeMismatch(argument: String, expected: [Int], actual: [Int])
    /// Nested arrays given to a ``Tensor`` initializer are ragged: at `dimension`, one array has
    /// `actual` elements where the first one at that depth has `expected`.
    case raggedArray(dimension: Int, expected: Int, actual: Int)
    /// A module inside a container (a ``Sequential``) threw `underlying`. `path` is the module's
    /// state-dict prefix without the trailing dot (`"1.0"`), `module` its type name
    /// (`"BatchNorm2d"`). Containers nested in containers give one flat path.
    indirect case inSubmodule(path: String, module: String, underlying: NormError)
    /// BatchNorm folding (``fuseConvBatchNorm(convWeight:convBias:batchNorm:transposed:)``) was
    /// given a layer in training mode: a fold bakes in the running statistics that eval mode
    /// normalizes with, so it is only valid in eval mode (PyTorch asserts "Fusion only for eval!").
    case foldingNeedsEvalMode(layer: String)
    /// BatchNorm folding was given a layer built with `trackRunningStats: false`: it normalizes
    /// every batch with that batch's own statistics, which no fixed weight and bias reproduce.
    case foldingNeedsRunningStatistics(layer: String)
    /// Bytes that are not a safetensors file NormKit can read (or tensors it cannot write as one).
    case invalidSafeTensors(SafeTensorsProblem)

    /// The error itself, or, for ``inSubmodule(path:module:underlying:)``, the error the module
    /// threw: what to match on when it does not matter where in a model the error arose.
    public var underlyingError: NormError {
        if case let .inSubmodule(_, _, underlying) = self { return underlying.underlyingError }
        return self
    }

    /// The message, worded like PyTorch's for the same mistake, with what was expected and
    /// what was given: `BatchNorm2d: expected 4D input (got 3D input)`.
    public var description: String {
        switch self {
        case let .invalidShape(shape):
            return "Invalid shape \(shape): dimensions must be non-negative and their product must fit in Int"
        case let .scalarCountMismatch(shape, expected, actual):
            return "shape \(shape) is invalid for input of size \(actual) (expected \(expected) elements)"
        case let .wrongRank(layer, expected, actual):
            let list = expected.map { "\($0)D" }.joined(separator: " or ")
            return "\(layer): expected \(list) input (got \(actual)D input)"
        case let .rankTooSmall(layer, minimum, actual):
            return "\(layer): expected at least \(minimum)D input (got \(actual)D input)"
        case let .tooFewSpatialElements(shape):
            return "Expected more than 1 spatial element when training, got input size \(shape)"
        case let .wrongChannelCount(layer, expected, actual):
            return "\(layer): expected input with \(expected) channels (got \(actual) channels)"
        case let .tooFewValuesPerChannel(shape):
            return "Expected more than 1 value per channel when training, got input size \(shape)"
        case let .groupsDoNotDivideChannels(groups, channels):
            return "Expected number of channels in input to be divisible by num_groups, "
                + "but got \(channels) channels and num_groups=\(groups)"
        case let .normalizedShapeMismatch(normalizedShape, inputShape):
            let star = (["*"] + normalizedShape.map(String.init)).joined(separator: ", ")
            return "Given normalized_shape=\(normalizedShape), expected input with shape [\(star)], "
                + "but got input of size \(inputShape)"
        case let .invalidArgument(name, expected, actual):
            return "\(name) must be \(expected) (got \(actual))"
        case let .backwardBeforeForward(layer):
            return "\(layer): backward called before a forward pass; there is nothing to differentiate"
        case let .gradientShapeMismatch(expected, actual):
            return "Mismatch in shape: grad_output has shape \(actual) and output has shape \(expected)"
        case let .stateDictKeyMismatch(missing, unexpected):
            func quoted(_ keys: [String]) -> String { keys.sorted().map { "\"\($0)\"" }.joined(separator: ", ") }
            var parts: [String] = []
            if !missing.isEmpty { parts.append("Missing key(s) in state_dict: \(quoted(missing)).") }
            if !unexpected.isEmpty { parts.append("Unexpected key(s) in state_dict: \(quoted(unexpected)).") }
            return "Error(s) in loading state_dict: " + parts.joined(separator: " ")
        case let .stateShapeMismatch(key, expected, actual):
            return "size mismatch for \(key): copying a param with shape \(actual) from checkpoint, "
                + "the shape in current model is \(expected)"
        case let .invalidStateValue(key, expected, actual):
            return "invalid value for \(key): expected \(expected) (got \(actual))"
        case let .collectiveTimeout(operation, rank, timeout, arrived, size):
            let rule = "Every rank must call the same collectives in the same order"
            guard !arrived.isEmpty else {
                // MPI: a non-blocking collective does not say who is missing.
                return "\(operation) timed out on rank \(rank) after \(timeout) s: not every rank of \(size) "
                    + "arrived; the process group is now broken. \(rule); a collective that never completes "
                    + "cannot be cancelled, so end the job with MPIProcessGroup.abort(code:) (MPI_Abort)"
            }
            return "\(operation) timed out on rank \(rank) after \(timeout) s: only ranks \(arrived) of "
                + "\(size) arrived; the process group is now broken. \(rule), and each rank of a "
                + "LocalProcessGroup must run on a thread of its own (a Thread, or LocalProcessGroup.run): on a "
                + "Dispatch queue or in Swift tasks, a pool with fewer threads than ranks waits until the timeout"
        case let .processGroupBroken(cause):
            return "The process group is broken by an earlier failure and cannot be used: \(cause)"
        case let .collectiveMismatch(operation, expected, actual):
            return "\(operation): ranks disagree, expected \(expected) on every rank (got \(actual))"
        case let .rankMismatch(layer, field, rank, expected, actual):
            return "\(layer): rank \(rank) has \(field) \(actual) but this rank has \(expected)"
        case let .peerRankFailed(layer, rank):
            let who = rank.map { "rank \($0)" } ?? "several ranks"
            return "\(layer): \(who) failed its checks, so the synchronized step was abandoned on every rank"
        case let .mpiError(function, code, message):
            return "\(function) failed with MPI error \(code): \(message)"
        case let .unreportedLocalFailure(local, collective):
            return "\(local.description); telling the other ranks failed too: \(collective.description)"
        case let .argumentShapeMismatch(argument, expected, actual):
            let (e, a) = (Tensor<Double>.checkedElementCount(expected), Tensor<Double>.checkedElementCount(actual))
            if let e, let a, e != a {
                return "\(argument) should contain \(e) elements not \(a) (expected shape \(expected), got \(actual))"
            }
            return "\(argument) should have shape \(expected) (got \(actual))"
        case let .raggedArray(dimension, expected, actual):
            return "expected sequence of length \(expected) at dim \(dimension) (got \(actual))"
        case let .foldingNeedsEvalMode(layer):
            return "\(layer): fusion only for eval: folding uses the running statistics, so the layer must be in "
                + "eval mode (call train(false) first; got a layer in training mode)"
        case let .foldingNeedsRunningStatistics(layer):
            return "\(layer): folding needs running statistics (running_mean and running_var), but the layer was "
                + "built with trackRunningStats: false and normalizes each batch with its own statistics"
        case let .inSubmodule(path, module, underlying):
            let message = underlying.description
            return message.hasPrefix(module + ":") ? "\(path): \(message)" : "\(path): \(module): \(message)"
        case let .invalidSafeTensors(problem):
            return "Invalid safetensors data: \(problem)"
        }
    }
}

extension NormError {
    /// ``invalidArgument(name:expected:actual:)`` for `name`, which is not among a module's
    /// parameter names `known` (``Module/setParameter(named:to:)``); it says so when the module
    /// has no parameters at all (a layer built with `affine: false`).
    static func unknownParameter(_ name: String, known: [String]) -> NormError {
        .invalidArgument(name: "parameter name", expected: known.isEmpty ? "none: this module has no parameters" : "one of \(known)",
                         actual: "\"\(name)\"")
    }
}
