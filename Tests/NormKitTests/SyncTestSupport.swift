import Foundation
import Testing
@testable import NormKit

/// Runs `body(rank)` for every rank on its own Foundation `Thread` (never on a width-limited pool)
/// and returns each rank's result, in rank order, once all have finished.
func syncRunOnThreads<T: Sendable>(
    _ count: Int, _ body: @escaping @Sendable (Int) throws -> T
) -> [Result<T, any Error>] {
    let box = SyncResultsBox<T>(count: count)
    for rank in 0..<count {
        let thread = Thread {
            let result = Result { try body(rank) }
            box.store(result, at: rank)
        }
        thread.stackSize = 4 << 20
        thread.start()
    }
    return box.waitForAll()
}

/// Collects results written from several threads.
final class SyncResultsBox<T: Sendable>: @unchecked Sendable {
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
