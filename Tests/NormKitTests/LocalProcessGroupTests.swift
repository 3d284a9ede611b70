import Foundation
import Testing
@testable import NormKit

@Suite struct LocalProcessGroupTests {
    @Test(arguments: [2, 3, 4])
    func allReduceSumsEveryRanksBuffer(size: Int) throws {
        let world = try LocalProcessGroup.world(size: size, timeout: 20)
        let results = syncRunOnThreads(size) { rank -> ([Double], [Float]) in
            let group = world[rank]
            var doubles = [Double(rank), Double(rank * rank), 0.5]
            try group.allReduceSum(&doubles)
            let floats = try group.allReducedSum([Float(rank + 1), -1])
            return (doubles, floats)
        }
        let ranks: [Double] = (0..<size).map(Double.init)
        let expectedDoubles: [Double] = [ranks.reduce(0, +), ranks.map { $0 * $0 }.reduce(0, +), 0.5 * Double(size)]
        let expectedFloats: [Float] = [Float(size * (size + 1) / 2), Float(-size)]
        for result in results {
            let (doubles, floats) = try result.get()
            #expect(doubles == expectedDoubles)
            #expect(floats == expectedFloats)
        }
    }

    @Test(arguments: [2, 3, 4])
    func allGatherConcatenatesInRankOrder(size: Int) throws {
        let world = try LocalProcessGroup.world(size: size, timeout: 20)
        let results = syncRunOnThreads(size) { rank -> ([Double], [Float]) in
            (try world[rank].allGather([Double(rank), Double(10 * rank)]), try world[rank].allGather([Float(-rank)]))
        }
        let expectedDoubles: [Double] = (0..<size).flatMap { rank -> [Double] in [Double(rank), Double(10 * rank)] }
        let expectedFloats: [Float] = (0..<size).map { Float(-$0) }
        for result in results {
            let (doubles, floats) = try result.get()
            #expect(doubles == expectedDoubles)
            #expect(floats == expectedFloats)
        }
    }

    @Test func barrierHoldsEveryRankUntilAllArrive() throws {
        let size = 4
        let world = try LocalProcessGroup.world(size: size, timeout: 20)
        let counter = SyncCounter()
        let results = syncRunOnThreads(size) { rank -> Int in
            if rank == 3 { Thread.sleep(forTimeInterval: 0.2) }
            counter.increment()
            try world[rank].barrier()
            return counter.value
        }
        for result in results { #expect(try result.get() == size) }
    }

    @Test func manyConsecutiveCollectivesStayInStep() throws {
        let size = 3
        let world = try LocalProcessGroup.world(size: size, timeout: 20)
        let results = syncRunOnThreads(size) { rank -> [Double] in
            var totals: [Double] = []
            for step in 0..<200 {
                let sum = try world[rank].allReducedSum([Double(rank * step)])
                totals.append(sum[0])
                if step % 7 == 0 { try world[rank].barrier() }
            }
            return totals
        }
        let expected = (0..<200).map { Double(3 * $0) }
        for result in results { #expect(try result.get() == expected) }
    }

    @Test func sizeOneCommunicatesNothing() throws {
        let world = try LocalProcessGroup.world(size: 1, timeout: 0.01)
        let group = world[0]
        #expect(group.rank == 0 && group.size == 1)
        #expect(try group.allReducedSum([1.5, 2]) == [1.5, 2])
        #expect(try group.allGather([Float(3)]) == [3])
        try group.barrier()
        let sub = try #require(try group.subgroup(ranks: [0]))
        #expect(sub.size == 1)
        #expect(throws: NormError.self) { try group.subgroup(ranks: [1]) }
    }

    @Test func subgroupsCommunicateOnlyAmongTheirRanks() throws {
        let size = 4
        let world = try LocalProcessGroup.world(size: size, timeout: 20)
        let results = syncRunOnThreads(size) { rank -> (rank: Int?, size: Int?, sum: [Double]?) in
            let evens = try world[rank].subgroup(ranks: [0, 2])
            let odds = try world[rank].subgroup(ranks: [3, 1])
            let mine = try #require(evens ?? odds)
            #expect((evens == nil) != (odds == nil))
            let sum = try mine.allReducedSum([Double(rank)])
            return (mine.rank, mine.size, sum)
        }
        let values = try results.map { try $0.get() }
        #expect(values[0].rank == 0 && values[2].rank == 1)
        #expect(values[3].rank == 0 && values[1].rank == 1)
        #expect(values.allSatisfy { $0.size == 2 })
        #expect(values[0].sum == [2] && values[2].sum == [2])
        #expect(values[1].sum == [4] && values[3].sum == [4])
    }

    @Test func subgroupWithDifferentListsFailsOnEveryRank() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: 20)
        let results = syncRunOnThreads(2) { rank in
            _ = try world[rank].subgroup(ranks: rank == 0 ? [0, 1] : [1, 0])
        }
        for result in results {
            #expect(throws: NormError.self) { try result.get() }
        }
        // The group stays usable after a mismatch.
        let sums = syncRunOnThreads(2) { rank in try world[rank].allReducedSum([1.0]) }
        for sum in sums { #expect(try sum.get() == [2]) }
    }

    @Test func mismatchedCountsOrTypesFailOnEveryRank() throws {
        let world = try LocalProcessGroup.world(size: 3, timeout: 20)
        let counts = syncRunOnThreads(3) { rank in
            _ = try world[rank].allReducedSum([Double](repeating: 1, count: rank == 1 ? 3 : 2))
        }
        let types = syncRunOnThreads(3) { rank in
            if rank == 2 { _ = try world[rank].allGather([Float(1)]) } else { _ = try world[rank].allGather([1.0]) }
        }
        let operations = syncRunOnThreads(3) { rank in
            if rank == 0 { try world[rank].barrier() } else { _ = try world[rank].allGather([1.0]) }
        }
        for result in counts + types + operations {
            #expect {
                try result.get()
            } throws: { error in
                guard case .collectiveMismatch? = error as? NormError else { return false }
                return true
            }
        }
    }

    @Test func missingRankTimesOutEveryWaitingRankAndBreaksTheGroup() throws {
        let size = 3
        let world = try LocalProcessGroup.world(size: size, timeout: 2)
        let start = Date()
        // Rank 2 never arrives.
        let results = syncRunOnThreads(2) { rank in _ = try world[rank].allReducedSum([1.0]) }
        #expect(Date().timeIntervalSince(start) < 10)
        for (rank, result) in results.enumerated() {
            #expect {
                try result.get()
            } throws: { error in
                guard case let .collectiveTimeout(operation, errorRank, timeout, arrived, groupSize)? = error as? NormError
                else { return false }
                return operation == "allReduceSum" && errorRank == rank && timeout == 2 && arrived == [0, 1]
                    && groupSize == 3
            }
        }
        // The late rank, and every later call, fail at once instead of hanging.
        let late = Date()
        #expect(throws: NormError.self) { try world[2].barrier() }
        #expect(throws: NormError.self) { try world[0].allGather([1.0]) }
        #expect(Date().timeIntervalSince(late) < 1)
    }

    @Test func invalidWorldArguments() {
        #expect(throws: NormError.self) { try LocalProcessGroup.world(size: 0) }
        #expect(throws: NormError.invalidArgument(name: "size", expected: "1 to 4096", actual: "4097")) {
            try LocalProcessGroup.world(size: LocalProcessGroup.maximumSize + 1)
        }
        #expect(throws: NormError.self) { try LocalProcessGroup.world(size: 2, timeout: 0) }
    }

    /// A handle listed twice would be one rank on two threads: nothing runs, every rank is told.
    @Test func aRankListedTwiceRunsNothing() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: 5)
        let outcomes = LocalProcessGroup.runCatching(ranks: [world[0], world[0]]) { group in try group.barrier() }
        for outcome in outcomes {
            #expect(throws: NormError.invalidArgument(name: "ranks", expected: "distinct rank handles", actual: "rank 0 listed twice")) {
                try outcome.get()
            }
        }
    }

    /// One handle used by two threads at once (outside `run`) breaks the group at once instead
    /// of crashing or waiting for the timeout: the second arrival throws, the first learns that
    /// the group is broken.
    @Test func oneHandleOnTwoThreadsBreaksTheGroup() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: 20)
        let start = Date()
        let outcomes = LocalProcessGroup.onThreads(count: 2) { _ in try world[1].barrier() }
        #expect(Date().timeIntervalSince(start) < 10)
        let errors = outcomes.compactMap { outcome -> NormError? in
            if case let .failure(error) = outcome { return error as? NormError } else { return nil }
        }
        #expect(errors.count == 2)
        #expect(errors.contains(.invalidArgument(name: "rank", expected: "each rank's handle used by one thread at a time",
                                                 actual: "rank 1 joined the same barrier twice")))
        #expect(throws: NormError.self) { try world[0].barrier() }
    }

    /// Issue #7: timeouts of 1e10 s and more used to be accepted and then trapped in
    /// `NSCondition.wait(until:)`.
    @Test(arguments: [LocalProcessGroup.maximumTimeout.nextUp, 1e10, .greatestFiniteMagnitude, .infinity, .nan])
    func timeoutsAboveTheMaximumAreRejected(timeout: Double) {
        #expect(throws: NormError.invalidArgument(name: "timeout", expected: "a positive number of seconds, at most 1000000.0",
                                                  actual: "\(timeout)")) {
            try LocalProcessGroup.world(size: 2, timeout: timeout)
        }
    }

    @Test func theMaximumTimeoutWaits() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: LocalProcessGroup.maximumTimeout)
        let results = syncRunOnThreads(2) { rank in
            // Rank 1 comes late enough that rank 0 parks with a deadline 10⁶ s away.
            if rank == 1 { Thread.sleep(forTimeInterval: 0.05) }
            return try world[rank].allReducedSum([Double(rank)])
        }
        for result in results { #expect(try result.get() == [1]) }
    }
}

/// A lock-protected counter shared by test threads.
final class SyncCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
