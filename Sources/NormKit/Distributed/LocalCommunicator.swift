import Foundation

/// The rendezvous shared by the handles of one ``LocalProcessGroup``.
///
/// Collectives are numbered by `generation`. Each rank deposits its contribution and waits on the
/// condition until the generation moves on; the last rank to arrive checks that every rank called
/// the same operation with compatible data, computes the outcome once, stores it in `outcome`,
/// advances the generation and wakes everyone. `outcome` stays valid until the next collective
/// completes, which cannot happen before every rank has read it and entered that collective.
///
/// Every field is read and written with `condition` locked.
final class LocalCommunicator: @unchecked Sendable {
    enum Operation: String, Sendable {
        case allReduceSum, allGather, barrier, subgroup
    }

    enum Payload: Sendable {
        case floats([Float]), doubles([Double]), ranks([Int]), nothing

        var floatValues: [Float] { if case let .floats(values) = self { values } else { [] } }
        var doubleValues: [Double] { if case let .doubles(values) = self { values } else { [] } }

        var summary: String {
            switch self {
            case let .floats(values): return "\(values.count) float32 values"
            case let .doubles(values): return "\(values.count) float64 values"
            case let .ranks(ranks): return "ranks \(ranks)"
            case .nothing: return "no data"
            }
        }
    }

    enum Outcome: Sendable {
        case floats([Float]), doubles([Double]), communicator(LocalCommunicator), nothing
    }

    let size: Int
    let timeout: Double
    private let condition = NSCondition()
    private var generation = 0
    private var pending: [(operation: Operation, payload: Payload)?]
    private var outcome: Result<Outcome, NormError> = .success(.nothing)
    /// Set when a collective timed out; every later call throws it.
    private var broken: NormError?

    init(size: Int, timeout: Double) {
        self.size = size
        self.timeout = timeout
        pending = Array(repeating: nil, count: size)
    }

    /// Enters one collective as `rank` and returns its outcome once every rank has entered it.
    func exchange(rank: Int, _ operation: Operation, _ payload: Payload) throws -> Outcome {
        condition.lock()
        defer { condition.unlock() }
        if let broken { throw NormError.processGroupBroken(cause: broken.description) }
        let myGeneration = generation
        pending[rank] = (operation, payload)
        if pending.allSatisfy({ $0 != nil }) {
            outcome = Self.combine(pending.map { $0! }, size: size, timeout: timeout)
            pending = Array(repeating: nil, count: size)
            generation += 1
            condition.broadcast()
            return try outcome.get()
        }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while generation == myGeneration && broken == nil {
            if !condition.wait(until: deadline), generation == myGeneration, broken == nil {
                let arrived = pending.indices.filter { pending[$0] != nil }
                broken = .collectiveTimeout(operation: operation.rawValue, rank: rank, timeout: timeout,
                                            arrived: arrived, size: size)
                condition.broadcast()
            }
        }
        guard generation == myGeneration else { return try outcome.get() }
        // This collective can never complete: report it on this rank with this rank's number.
        guard case let .collectiveTimeout(operation, _, timeout, arrived, size)? = broken else { throw broken! }
        throw NormError.collectiveTimeout(operation: operation, rank: rank, timeout: timeout, arrived: arrived, size: size)
    }

    /// Computes a collective's outcome from every rank's contribution, in rank order.
    private static func combine(
        _ entries: [(operation: Operation, payload: Payload)], size: Int, timeout: Double
    ) -> Result<Outcome, NormError> {
        let operation = entries[0].operation
        let expected = "\(operation.rawValue) of \(entries[0].payload.summary)"
        for entry in entries.dropFirst() {
            let actual = "\(entry.operation.rawValue) of \(entry.payload.summary)"
            guard entry.operation == operation, compatible(entry.payload, entries[0].payload, operation) else {
                return .failure(.collectiveMismatch(operation: operation.rawValue, expected: expected, actual: actual))
            }
        }
        switch (operation, entries[0].payload) {
        case (.barrier, _):
            return .success(.nothing)
        case (.allReduceSum, .floats):
            return .success(.floats(sum(entries.map(\.payload.floatValues))))
        case (.allReduceSum, .doubles):
            return .success(.doubles(sum(entries.map(\.payload.doubleValues))))
        case (.allGather, .floats):
            return .success(.floats(entries.flatMap(\.payload.floatValues)))
        case (.allGather, .doubles):
            return .success(.doubles(entries.flatMap(\.payload.doubleValues)))
        case let (.subgroup, .ranks(ranks)):
            do {
                try validateSubgroupRanks(ranks, size: size)
            } catch let error as NormError {
                return .failure(error)
            } catch {
                preconditionFailure("validateSubgroupRanks throws only NormError")
            }
            return .success(.communicator(LocalCommunicator(size: ranks.count, timeout: timeout)))
        default:
            preconditionFailure("\(operation) cannot carry \(entries[0].payload.summary)")
        }
    }

    /// Same element type and count (and, for `subgroup`, the same rank list).
    private static func compatible(_ a: Payload, _ b: Payload, _ operation: Operation) -> Bool {
        switch (a, b) {
        case let (.floats(x), .floats(y)): return x.count == y.count
        case let (.doubles(x), .doubles(y)): return x.count == y.count
        case let (.ranks(x), .ranks(y)): return x == y
        case (.nothing, .nothing): return true
        default: return false
        }
    }

    private static func sum<T: BinaryFloatingPoint>(_ buffers: [[T]]) -> [T] {
        var total = buffers[0]
        for buffer in buffers.dropFirst() {
            for i in total.indices { total[i] += buffer[i] }
        }
        return total
    }
}
