import Foundation

extension LocalProcessGroup {
    /// Runs `body` on every rank of a new group of `size` ranks, each on a Foundation `Thread` of
    /// its own, waits for all of them, and returns their results in rank order.
    ///
    /// ```swift
    /// let outputs = try LocalProcessGroup.run(size: 4, timeout: 30) { group in
    ///     let bn = SyncBatchNorm<Float>(numFeatures: 64, processGroup: group)
    ///     return try bn(shards[group.rank])
    /// }
    /// ```
    ///
    /// Ranks need threads of their own: a collective blocks its thread until every rank has
    /// entered it, so ranks on a pool narrower than the group (Dispatch's, or Swift concurrency's
    /// cooperative pool) wait for each other until the timeout.
    /// - Parameters:
    ///   - size: the number of ranks, at least 1.
    ///   - timeout: seconds a collective waits for the other ranks (see ``world(size:timeout:)``).
    ///   - body: the work of one rank, given that rank's handle.
    /// - Returns: each rank's result, `results[r]` from rank r.
    /// - Throws: the errors of ``world(size:timeout:)``, or the error of the lowest-numbered rank
    ///   that threw, once every rank has finished.
    public static func run<T: Sendable>(
        size: Int, timeout: Double = 30, _ body: @escaping @Sendable (LocalProcessGroup) throws -> T
    ) throws -> [T] {
        try run(ranks: world(size: size, timeout: timeout), body)
    }

    /// Runs `body` on each of `ranks` (handles of one group, such as those of
    /// ``world(size:timeout:)``, or some of them), each on a `Thread` of its own; waits for all of
    /// them and returns their results in the order of `ranks`, or rethrows the error of the first
    /// rank in that order that threw.
    public static func run<T: Sendable>(
        ranks: [LocalProcessGroup], _ body: @escaping @Sendable (LocalProcessGroup) throws -> T
    ) throws -> [T] {
        try runCatching(ranks: ranks, body).map { try $0.get() }
    }

    /// Like ``run(ranks:_:)``, but returns every rank's outcome, thrown errors included, so that a
    /// caller can see what each rank threw. A handle listed twice (one rank on two threads) runs
    /// nothing: every outcome is ``NormError/invalidArgument(name:expected:actual:)``.
    public static func runCatching<T: Sendable>(
        ranks: [LocalProcessGroup], _ body: @escaping @Sendable (LocalProcessGroup) throws -> T
    ) -> [Result<T, any Error>] {
        var seen = Set<RankSeat>()
        for group in ranks where !seen.insert(RankSeat(communicator: ObjectIdentifier(group.communicator), rank: group.rank)).inserted {
            let listedTwice = NormError.invalidArgument(name: "ranks", expected: "distinct rank handles",
                                                        actual: "rank \(group.rank) listed twice")
            return ranks.map { _ in .failure(listedTwice) }
        }
        return onThreads(count: ranks.count) { index in try body(ranks[index]) }
    }

    /// Runs `body(i)` for i in `0..<count`, each on a `Thread` of its own, and returns the
    /// outcomes in order once all have finished. (Tests use it for ranks that skip a call, and
    /// the lab for its pool of grid workers.)
    package static func onThreads<T: Sendable>(
        count: Int, _ body: @escaping @Sendable (Int) throws -> T
    ) -> [Result<T, any Error>] {
        let results = RankResults<T>(count: count)
        for index in 0..<count {
            let thread = Thread {
                results.store(Result { try body(index) }, at: index)
            }
            thread.name = "NormKit rank thread \(index)"
            thread.stackSize = 8 << 20  // as a main thread's: debug builds of deep models need it
            thread.start()
        }
        return results.waitForAll()
    }
}

/// One rank of one communicator: two handles with the same seat would be one rank on two threads.
private struct RankSeat: Hashable {
    let communicator: ObjectIdentifier
    let rank: Int
}

/// The outcomes of the rank threads of ``LocalProcessGroup/runCatching(ranks:_:)``, written by
/// each thread and read once all are in. Every field is used with `condition` locked.
private final class RankResults<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var results: [Result<T, any Error>?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func store(_ result: Result<T, any Error>, at index: Int) {
        condition.lock()
        results[index] = result
        condition.broadcast()
        condition.unlock()
    }

    func waitForAll() -> [Result<T, any Error>] {
        condition.lock()
        defer { condition.unlock() }
        while results.contains(where: { $0 == nil }) { condition.wait() }
        return results.map { $0! }
    }
}
