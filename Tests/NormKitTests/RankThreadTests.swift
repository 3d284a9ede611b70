import Foundation
import Testing
@testable import NormKit

/// Issue #7, C: the rank-thread helper.
@Suite struct RankThreadTests {
    @Test func runGivesEachRankItsOwnThreadAndReturnsResultsInRankOrder() throws {
        let results = try LocalProcessGroup.run(size: 4, timeout: 20) { group -> (rank: Int, sum: Double, main: Bool) in
            let sum = try group.allReducedSum([Double(group.rank)])
            return (group.rank, sum[0], Thread.isMainThread)
        }
        #expect(results.map(\.rank) == [0, 1, 2, 3])
        #expect(results.allSatisfy { $0.sum == 6 && !$0.main })
    }

    @Test func runRethrowsTheErrorOfTheLowestFailingRankAfterAllFinish() throws {
        let finished = SyncCounter()
        #expect(throws: NormError.invalidArgument(name: "rank", expected: "even", actual: "1")) {
            _ = try LocalProcessGroup.run(size: 4, timeout: 20) { group in
                defer { finished.increment() }
                if group.rank == 3 { Thread.sleep(forTimeInterval: 0.1) }
                if group.rank % 2 == 1 {
                    throw NormError.invalidArgument(name: "rank", expected: "even", actual: "\(group.rank)")
                }
            }
        }
        #expect(finished.value == 4)
        #expect(throws: NormError.self) { try LocalProcessGroup.run(size: 0) { _ in } }
    }

    @Test func runOnSomeRanksTimesOutWithAHintAboutThreads() throws {
        let world = try LocalProcessGroup.world(size: 3, timeout: 1)
        let results = LocalProcessGroup.runCatching(ranks: Array(world.prefix(2))) { group in try group.barrier() }
        for result in results {
            #expect { try result.get() } throws: { error in
                "\(error)".contains("must run on a thread of its own") && "\(error)".contains("Dispatch")
            }
        }
    }
}
