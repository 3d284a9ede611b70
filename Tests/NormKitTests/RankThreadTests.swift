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

    /// The README's LocalProcessGroup snippet, as written there.
    @Test func readmeSnippetRuns() throws {
        var rng = SeededGenerator(seed: 17)
        let shards: [Tensor<Float>] = [2, 0, 1, 3].map { .randomNormal(shape: [$0, 64, 2, 2], using: &rng) }
        let dys: [Tensor<Float>] = shards.map { .randomNormal(shape: $0.shape, using: &rng) }

        let outputs = try LocalProcessGroup.run(size: 4, timeout: 30) { group in
            let bn = SyncBatchNorm<Float>(numFeatures: 64, processGroup: group)
            let y = try bn(shards[group.rank])           // (N_r, 64, H, W); N_r may differ per rank, even be 0
            let dx = try bn.backward(dys[group.rank])    // dx of this shard; bn.gradients() holds this shard's share
            return (y, dx)
        }

        #expect(outputs.map(\.0.shape) == shards.map(\.shape) && outputs.map(\.1.shape) == shards.map(\.shape))
        // Normalized with the statistics of the whole batch of 6: per channel, the outputs of all
        // ranks together have mean 0.
        let channel0 = outputs.flatMap { y in (0..<y.0.shape[0]).flatMap { n in (0..<4).map { Double(y.0.scalars[n * 256 + $0]) } } }
        #expect(abs(channel0.reduce(0, +)) < 1e-4)
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
