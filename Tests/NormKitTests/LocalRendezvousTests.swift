import Foundation
import Testing
@testable import NormKit

/// The spin-then-park rendezvous behind ``LocalProcessGroup``: ranks that spin, ranks that park,
/// and more ranks than cores all get the same results, and timeouts still fire.
@Suite struct LocalRendezvousTests {
    /// More than twice as many ranks as this machine has cores, so that spinning ranks hold cores
    /// that others need.
    static let oversubscribed = 2 * ProcessInfo.processInfo.activeProcessorCount + 1

    /// `rounds` back-to-back all-reduces, all-gathers and barriers on `world`, checked on every rank.
    func runBackToBack(_ world: [LocalProcessGroup], rounds: Int, jitter: Bool = false) throws {
        let size = world.count
        let results = syncRunOnThreads(size) { rank -> Int in
            var generator = SystemRandomNumberGenerator()
            var checked = 0
            for round in 0..<rounds {
                if jitter { Thread.sleep(forTimeInterval: Double.random(in: 0..<100e-6, using: &generator)) }
                var sums = [Double(rank), Double(round), 1, -Double(rank * round), 0.25, 0, 0, Double(rank)]
                try world[rank].allReduceSum(&sums)
                let ranks = Double(size * (size - 1) / 2)
                guard sums == [ranks, Double(size * round), Double(size), -ranks * Double(round), 0.25 * Double(size),
                               0, 0, ranks] else { return checked }
                let gathered = try world[rank].allGather([Float(rank + round)])
                guard gathered == (0..<size).map({ Float($0 + round) }) else { return checked }
                if round % 5 == 0 { try world[rank].barrier() }
                checked += 1
            }
            return checked
        }
        for result in results { #expect(try result.get() == rounds) }
    }

    @Test(arguments: [2, 3, 4, oversubscribed])
    func backToBackCollectivesStayCorrect(size: Int) throws {
        try runBackToBack(try LocalProcessGroup.world(size: size, timeout: 20), rounds: 2_000)
    }

    @Test(arguments: [2, 3, 4, oversubscribed])
    func parkingAtOnceStaysCorrect(size: Int) throws {
        let communicator = LocalCommunicator(size: size, timeout: 20, spinNanoseconds: 0)
        let world = (0..<size).map { LocalProcessGroup(communicator: communicator, rank: $0) }
        try runBackToBack(world, rounds: 500)
    }

    @Test(arguments: [2, 4])
    func ranksArrivingAtRandomTimesMixSpinningAndParking(size: Int) throws {
        try runBackToBack(try LocalProcessGroup.world(size: size, timeout: 20), rounds: 300, jitter: true)
    }

    @Test func subgroupsInheritTheSpin() throws {
        let communicator = LocalCommunicator(size: 2, timeout: 20, spinNanoseconds: 0)
        let world = (0..<2).map { LocalProcessGroup(communicator: communicator, rank: $0) }
        let results = syncRunOnThreads(2) { rank in
            try #require(try world[rank].subgroup(ranks: [1, 0]) as? LocalProcessGroup).communicator.spinNanoseconds
        }
        for result in results { #expect(try result.get() == 0) }
    }

    /// Rank 0 spins until its deadline and times out while rank 1, which came later, still spins:
    /// rank 1 must throw the same timeout once it stops spinning, and rank 2 never arrives.
    @Test func timeoutFiresWhileAnotherRankSpins() throws {
        let timeout = 0.3
        let communicator = LocalCommunicator(size: 3, timeout: timeout, spinNanoseconds: 10_000_000_000)
        let world = (0..<3).map { LocalProcessGroup(communicator: communicator, rank: $0) }
        let start = Date()
        let results = syncRunOnThreads(2) { rank in
            if rank == 1 { Thread.sleep(forTimeInterval: timeout / 3) }
            _ = try world[rank].allReducedSum([1.0])
        }
        #expect(Date().timeIntervalSince(start) < 5)
        for (rank, result) in results.enumerated() {
            #expect {
                try result.get()
            } throws: { error in
                guard case let .collectiveTimeout(operation, errorRank, errorTimeout, arrived, size)? = error as? NormError
                else { return false }
                return operation == "allReduceSum" && errorRank == rank && errorTimeout == timeout
                    && arrived == [0, 1] && size == 3
            }
        }
        #expect {
            try world[2].barrier()
        } throws: { error in
            guard case .processGroupBroken? = error as? NormError else { return false }
            return true
        }
    }

    @Test func timeoutShorterThanTheSpinStillFires() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: 1e-5)
        let start = Date()
        #expect {
            _ = try world[0].allReducedSum([1.0])
        } throws: { error in
            guard case .collectiveTimeout(_, 0, _, [0], 2)? = error as? NormError else { return false }
            return true
        }
        #expect(Date().timeIntervalSince(start) < 1)
    }
}

/// The running average of waits that turns spinning off and on again.
@Suite struct PublishedGenerationTests {
    /// Seconds that `count` calls of `awaitChange(from: 0, for: nanoseconds)` take, none seeing a change.
    func timeSpins(_ published: any PublishedGeneration, count: Int, nanoseconds: UInt64) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<count { #expect(!published.awaitChange(from: 0, for: nanoseconds)) }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    @Test func longWaitsTurnSpinningOffAndShortWaitsTurnItBackOn() throws {
        let published = try #require(makePublishedGeneration())
        #expect(timeSpins(published, count: 1, nanoseconds: 1_000_000) >= 1e-3)
        for _ in 0..<50 { published.recordWait(1_000_000_000) }
        // 1000 spins of 150 µs would take at least 150 ms; skipped, they take microseconds.
        #expect(timeSpins(published, count: 1_000, nanoseconds: 150_000) < 0.075)
        for _ in 0..<50 { published.recordWait(0) }
        #expect(timeSpins(published, count: 1, nanoseconds: 1_000_000) >= 1e-3)
        published.publish(1)
        #expect(published.awaitChange(from: 0, for: 1_000_000))
    }
}
