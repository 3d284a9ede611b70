import Foundation

/// The rendezvous shared by the handles of one ``LocalProcessGroup``.
///
/// Collectives are numbered by `generation`. Each rank deposits its contribution under the lock;
/// the last rank to arrive checks that every rank called the same operation with compatible data,
/// computes the outcome once, stores it in `outcome` and advances the generation. The others wait
/// for the generation to move on in two steps:
/// 1. **spin**: for up to `spinNanoseconds` (never longer than the timeout) they poll the
///    lock-free ``PublishedGeneration``, a few plain loads and then yielding the core each poll.
///    They skip this step while the group's recent waits averaged longer than the spin, as when
///    ranks are unevenly loaded or the machine is busy with other work;
/// 2. **park**: they then sleep on `condition` until the generation moves on, or until the
///    deadline (`timeout` seconds after arrival, the spin included) breaks the group.
///
/// The last rank wakes the condition only when some rank has parked, so a collective whose ranks
/// all arrive within the spin makes no wake-up system call. `outcome` stays valid until the next
/// collective completes, which cannot happen before every rank has read it and entered that
/// collective; a rank that saw the new generation while spinning reads it without the lock (the
/// acquire load of the generation orders that read after the write).
///
/// Every other field is read and written with `condition` locked.
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

    /// How long an early rank spins before it parks, by default: long enough to cover the other
    /// ranks' arrival when each has a core, short enough that oversubscribed ranks waste little.
    static let defaultSpinNanoseconds: UInt64 = 50_000

    let size: Int
    let timeout: Double
    /// How long an early rank spins before it parks; 0 parks at once. Subgroups inherit it.
    let spinNanoseconds: UInt64
    private let condition = NSCondition()
    /// `generation` for spinning ranks, and the average wait that decides whether they spin; `nil`
    /// where the platform lacks atomics (ranks park at once).
    private let published = makePublishedGeneration()
    private var generation = 0
    private var pending: [(operation: Operation, payload: Payload)?]
    private var arrivals = 0
    /// Ranks sleeping on `condition` in the current collective.
    private var parked = 0
    private var outcome: Result<Outcome, NormError> = .success(.nothing)
    /// Set when a collective timed out; every later call throws it.
    private var broken: NormError?

    init(size: Int, timeout: Double, spinNanoseconds: UInt64 = defaultSpinNanoseconds) {
        self.size = size
        self.timeout = timeout
        self.spinNanoseconds = spinNanoseconds
        pending = Array(repeating: nil, count: size)
    }

    /// Enters one collective as `rank` and returns its outcome once every rank has entered it.
    func exchange(rank: Int, _ operation: Operation, _ payload: Payload) throws -> Outcome {
        let (myGeneration, completed) = try deposit(rank: rank, operation, payload)
        if completed { return try outcome.get() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        let arrival = DispatchTime.now().uptimeNanoseconds
        let spin = UInt64(min(Double(spinNanoseconds), timeout * 1e9))
        if spin > 0, let published, published.awaitChange(from: myGeneration, for: spin) {
            published.recordWait(DispatchTime.now().uptimeNanoseconds - arrival)
            return try outcome.get()
        }
        let parkedOutcome = try park(rank: rank, operation, generation: myGeneration, deadline: deadline)
        published?.recordWait(DispatchTime.now().uptimeNanoseconds - arrival)
        return parkedOutcome
    }

    /// Stores `rank`'s contribution to the current collective and returns its generation, and
    /// whether this rank was the last to arrive (and completed it).
    private func deposit(rank: Int, _ operation: Operation, _ payload: Payload) throws -> (Int, completed: Bool) {
        condition.lock()
        defer { condition.unlock() }
        if let broken { throw NormError.processGroupBroken(cause: broken.description) }
        let myGeneration = generation
        guard pending[rank] == nil else {
            // One rank's handle on two threads at once: break the group, so that every rank
            // throws now instead of waiting for a rank that already arrived.
            let misuse = NormError.invalidArgument(
                name: "rank", expected: "each rank's handle used by one thread at a time",
                actual: "rank \(rank) joined the same \(operation.rawValue) twice")
            broken = misuse
            if parked > 0 { condition.broadcast() }
            throw misuse
        }
        pending[rank] = (operation, payload)
        arrivals += 1
        guard arrivals == size else { return (myGeneration, false) }
        outcome = combine(pending.map { $0! })
        for index in pending.indices { pending[index] = nil }
        arrivals = 0
        generation += 1
        published?.publish(generation)
        if parked > 0 { condition.broadcast() }
        return (myGeneration, true)
    }

    /// Sleeps until collective `myGeneration` completes and returns its outcome, or breaks the
    /// group at `deadline` and throws.
    private func park(rank: Int, _ operation: Operation, generation myGeneration: Int, deadline: Date) throws -> Outcome {
        condition.lock()
        defer { condition.unlock() }
        parked += 1
        defer { parked -= 1 }
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
    private func combine(_ entries: [(operation: Operation, payload: Payload)]) -> Result<Outcome, NormError> {
        let operation = entries[0].operation
        for entry in entries.dropFirst() {
            guard entry.operation == operation, Self.compatible(entry.payload, entries[0].payload, operation) else {
                return .failure(.collectiveMismatch(operation: operation.rawValue,
                                                    expected: "\(operation.rawValue) of \(entries[0].payload.summary)",
                                                    actual: "\(entry.operation.rawValue) of \(entry.payload.summary)"))
            }
        }
        switch (operation, entries[0].payload) {
        case (.barrier, _):
            return .success(.nothing)
        case (.allReduceSum, .floats):
            return .success(.floats(Self.sum(entries.map(\.payload.floatValues))))
        case (.allReduceSum, .doubles):
            return .success(.doubles(Self.sum(entries.map(\.payload.doubleValues))))
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
            return .success(.communicator(LocalCommunicator(size: ranks.count, timeout: timeout,
                                                            spinNanoseconds: spinNanoseconds)))
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
