import Foundation
import Testing
@testable import NormKit

/// Runs `body(rank)` for every rank on its own Foundation `Thread` (never on a width-limited pool)
/// and returns each rank's result, in rank order, once all have finished. A thin wrapper over
/// the library's rank threads (``LocalProcessGroup/runCatching(ranks:_:)``), for tests whose
/// ranks are numbers rather than handles, such as a rank that never calls.
func syncRunOnThreads<T: Sendable>(
    _ count: Int, _ body: @escaping @Sendable (Int) throws -> T
) -> [Result<T, any Error>] {
    LocalProcessGroup.onThreads(count: count, body)
}
