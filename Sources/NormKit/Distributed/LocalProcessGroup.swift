import Foundation

/// A process group whose ranks are threads of one process: the in-process backend for tests,
/// for data parallelism across threads, and for checking distributed code without MPI.
///
/// ```swift
/// let results = try LocalProcessGroup.run(size: 4, timeout: 30) { group in
///     /* each rank uses its own handle on its own Thread */
/// }
/// ```
///
/// ``run(size:timeout:_:)`` makes the handles with ``world(size:timeout:)`` and runs each rank on
/// a `Thread` of its own; ``run(ranks:_:)`` does the same for handles you already have.
///
/// Each handle belongs to one thread; a rank blocks in a collective until every rank has entered
/// it. Ranks must run on threads of their own (Foundation `Thread`s or pthreads): on a
/// width-limited pool (Dispatch's, or Swift concurrency's cooperative pool) fewer threads than
/// ranks deadlock until the timeout.
///
/// The last rank to arrive in a collective computes the result once (the sum, or the
/// concatenation) and hands it to the others. A rank that arrives early spins for up to 50 µs
/// (after a few hundred polls it yields its core between polls, so that more ranks than cores
/// still make progress), then sleeps on a condition variable (`NSCondition`) until the last rank
/// wakes it or the timeout passes. While the group's recent waits averaged longer than the spin,
/// early ranks sleep at once.
///
/// Failure semantics:
/// - A rank that waits longer than `timeout` seconds for the others throws
///   ``NormError/collectiveTimeout(operation:rank:timeout:arrived:size:)``, and so does every rank
///   waiting in the same collective. The group is then **broken for good**: every later
///   collective on any of its handles (a late rank included) throws
///   ``NormError/processGroupBroken(cause:)`` at once, so nothing is left hanging. Create a new
///   world to continue.
/// - Ranks that enter one collective with different operations, element types or counts all throw
///   ``NormError/collectiveMismatch(operation:expected:actual:)``; the group stays usable, since
///   every rank saw the same failure.
/// - Subgroups share nothing with their parent: a timeout in one does not break the other.
public final class LocalProcessGroup: ProcessGroup {
    public let rank: Int
    public var size: Int { communicator.size }
    /// Seconds a rank waits in a collective for the others before the group breaks.
    public var timeout: Double { communicator.timeout }
    let communicator: LocalCommunicator

    init(communicator: LocalCommunicator, rank: Int) {
        self.communicator = communicator
        self.rank = rank
    }

    /// The longest timeout ``world(size:timeout:)`` accepts: 10⁶ seconds, about 11.6 days.
    public static let maximumTimeout: Double = 1_000_000

    /// The most ranks ``world(size:timeout:)`` accepts: 4,096, each a thread of its own under
    /// ``run(ranks:_:)`` (with an 8 MiB stack), well under Linux's default thread limits.
    public static let maximumSize = 4096

    /// One handle per rank of a new group of `size` ranks, `handles[r].rank == r`.
    /// - Parameters:
    ///   - size: the number of ranks, from 1 to ``maximumSize``.
    ///   - timeout: seconds a collective waits for the other ranks, in `0 < timeout ≤`
    ///     ``maximumTimeout``; default 30.
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` for a size outside
    ///   `1...maximumSize`, or a timeout that is not positive, or above ``maximumTimeout`` (NaN and
    ///   infinity included).
    public static func world(size: Int, timeout: Double = 30) throws -> [LocalProcessGroup] {
        guard (1...maximumSize).contains(size) else {
            throw NormError.invalidArgument(name: "size", expected: "1 to \(maximumSize)", actual: "\(size)")
        }
        guard timeout > 0, timeout <= maximumTimeout else {
            throw NormError.invalidArgument(name: "timeout", expected: "a positive number of seconds, at most \(maximumTimeout)",
                                            actual: "\(timeout)")
        }
        let communicator = LocalCommunicator(size: size, timeout: timeout)
        return (0..<size).map { LocalProcessGroup(communicator: communicator, rank: $0) }
    }

    public func allReduceSum(_ buffer: inout [Float]) throws {
        guard size > 1 else { return }
        guard case let .floats(sum) = try communicator.exchange(rank: rank, .allReduceSum, .floats(buffer)) else {
            preconditionFailure("allReduceSum returned another kind of result")
        }
        buffer = sum
    }

    public func allReduceSum(_ buffer: inout [Double]) throws {
        guard size > 1 else { return }
        guard case let .doubles(sum) = try communicator.exchange(rank: rank, .allReduceSum, .doubles(buffer)) else {
            preconditionFailure("allReduceSum returned another kind of result")
        }
        buffer = sum
    }

    public func allGather(_ buffer: [Float]) throws -> [Float] {
        guard size > 1 else { return buffer }
        guard case let .floats(all) = try communicator.exchange(rank: rank, .allGather, .floats(buffer)) else {
            preconditionFailure("allGather returned another kind of result")
        }
        return all
    }

    public func allGather(_ buffer: [Double]) throws -> [Double] {
        guard size > 1 else { return buffer }
        guard case let .doubles(all) = try communicator.exchange(rank: rank, .allGather, .doubles(buffer)) else {
            preconditionFailure("allGather returned another kind of result")
        }
        return all
    }

    public func barrier() throws {
        guard size > 1 else { return }
        _ = try communicator.exchange(rank: rank, .barrier, .nothing)
    }

    /// See ``ProcessGroup/subgroup(ranks:)``. The subgroup has this group's timeout.
    public func subgroup(ranks: [Int]) throws -> (any ProcessGroup)? {
        let created: LocalCommunicator
        if size == 1 {
            try validateSubgroupRanks(ranks, size: 1)
            created = LocalCommunicator(size: 1, timeout: timeout)
        } else {
            guard case let .communicator(shared) = try communicator.exchange(rank: rank, .subgroup, .ranks(ranks)) else {
                preconditionFailure("subgroup returned another kind of result")
            }
            created = shared
        }
        return ranks.firstIndex(of: rank).map { LocalProcessGroup(communicator: created, rank: $0) }
    }
}
