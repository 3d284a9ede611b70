import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// The kernels' threads: chunking covers every task once, results do not depend on how many
/// callers run at once, and concurrent callers neither deadlock nor multiply the threads.
@Suite struct ParallelismTests {
    @Test(arguments: [(0, 1), (1, 1), (7, 2), (64, 2), (1000, 3), (5, 8)])
    func chunksCoverEveryTaskOnce(taskCount: Int, chunks: Int) {
        var covered = [Int](repeating: 0, count: taskCount)
        for chunk in 0..<chunks {
            for task in Parallelism.chunkRange(chunk, of: chunks, taskCount: taskCount) { covered[task] += 1 }
        }
        #expect(covered.allSatisfy { $0 == 1 })
    }

    @Test func smallWorkStaysOnTheCallingThread() {
        // Explicit settings: other tests change the process-wide ones while this one runs.
        #expect(Parallelism.chunkCount(taskCount: 100, elements: (1 << 15) - 1, threshold: 1 << 15, threads: 2) == 1)
        #expect(Parallelism.chunkCount(taskCount: 100, elements: 1 << 15, threshold: 1 << 15, threads: 2) == 2)
        #expect(Parallelism.chunkCount(taskCount: 0, elements: 1 << 30, threshold: 1 << 15, threads: 2) == 0)
    }

    @Test func concurrentCallersGetTheSerialResultWithoutExtraThreads() throws {
        // Bitwise equality needs the same settings throughout (KernelSettings).
        try KernelSettings.lock.withLock { try concurrentCallersGetTheSerialResult() }
    }

    func concurrentCallersGetTheSerialResult() throws {
        var random = SeededGenerator(seed: 11)
        let x = Tensor<Float>.randomNormal(shape: [2, 8, 128, 160], using: &random)  // above the threading threshold
        let expected = try Functional.groupNorm(x, numGroups: 4).output
        let before = Self.threadCount()
        let callers = 6
        let outputs = UncheckedSendable(UnsafeMutableBufferPointer<Tensor<Float>?>.allocate(capacity: callers))
        outputs.value.initialize(repeating: nil)
        defer { outputs.value.deinitialize(); outputs.value.deallocate() }
        let group = DispatchGroup()
        for caller in 0..<callers {
            group.enter()
            Thread {
                outputs.value[caller] = try? Functional.groupNorm(x, numGroups: 4).output
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 60) == .success, "concurrent callers finished")
        for caller in 0..<callers { #expect(outputs.value[caller] == expected, "caller \(caller)") }
        if let before, let after = Self.threadCount() {
            // Dispatch's pool is bounded by the core count; allow for its own helper threads.
            #expect(after <= before + ProcessInfo.processInfo.activeProcessorCount + 4, "threads: \(before) → \(after)")
        }
    }

    /// Two chunks that each wait for the other to start can only both start at once if a pool
    /// worker takes one of them: the pool really runs chunks in parallel. (Other tests use the
    /// pool meanwhile; a call that finds it busy runs serially, so the test tries again.)
    @Test func poolWorkersRunChunksAlongsideTheCaller() {
        KernelSettings.lock.withLock { poolWorkersRunChunks() }
    }

    func poolWorkersRunChunks() {
        var parallelRuns = 0
        for _ in 0..<50 where parallelRuns == 0 {
            let started = ThreadIDs()
            let pooled = Parallelism.withThreadCount(2) {
                Parallelism.runChunks(2) { _ in
                    started.add()
                    let deadline = Date().addingTimeInterval(2)
                    while started.count < 2, Date() < deadline { usleep(50) }
                }
            }
            guard pooled else { continue }
            #expect(started.distinct == 2, "a pooled job's two chunks ran on two threads")
            parallelRuns += 1
        }
        #expect(parallelRuns == 1, "the pool was free at least once in 50 tries")
    }

    /// A kernel call from inside a chunk finds the pool busy and runs on its own thread.
    @Test func nestedCallsRunSeriallyWithoutDeadlock() {
        let total = KernelSettings.lock.withLock { Parallelism.withThreadCount(2) {
            Parallelism.withMinimumParallelElements(1) {
                Parallelism.mapChunks(taskCount: 4, elements: 4) { outer in
                    Parallelism.mapChunks(taskCount: 10, elements: 10) { $0.count }.reduce(0, +) * outer.count
                }.reduce(0, +)
            }
        } }
        #expect(total == 40)
    }

    /// Many short jobs back to back, from several threads at once: every job's chunks run exactly
    /// once (the hand-over between jobs is where a pool would race).
    @Test func backToBackJobsFromSeveralThreadsEachRunEveryChunkOnce() {
        let callers = 3, jobs = 400
        let failures = ThreadIDs()
        let group = DispatchGroup()
        KernelSettings.lock.lock()
        defer { KernelSettings.lock.unlock() }
        Parallelism.withThreadCount(2) {
            Parallelism.withMinimumParallelElements(1) {
                for _ in 0..<callers {
                    group.enter()
                    Thread {
                        for job in 0..<jobs {
                            let chunks = 2 + job % 5
                            // Each chunk's own result, in chunk order: a chunk run twice, skipped or
                            // given another job's range shows up in its own slot.
                            let ranges = Parallelism.mapChunks(taskCount: chunks * 10, elements: chunks) { $0 }
                            let expected = (0..<ranges.count).map {
                                Parallelism.chunkRange($0, of: ranges.count, taskCount: chunks * 10)
                            }
                            if ranges.isEmpty || ranges != expected { failures.add() }
                        }
                        group.leave()
                    }.start()
                }
                #expect(group.wait(timeout: .now() + 120) == .success, "every caller finished")
            }
        }
        #expect(failures.count == 0)
    }

    /// The process's thread count, where the platform shows it.
    static func threadCount() -> Int? {
        #if os(Linux)
        return (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task"))?.count
        #else
        return nil
        #endif
    }
}

/// Threads seen by test chunks, under a lock.
final class ThreadIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [UInt] = []

    func add() { lock.withLock { ids.append(currentThreadID()) } }
    var count: Int { lock.withLock { ids.count } }
    var distinct: Int { lock.withLock { Set(ids).count } }
}

/// This thread's identity as a number.
private func currentThreadID() -> UInt {
    #if canImport(Glibc)
    return UInt(pthread_self())
    #else
    return UInt(bitPattern: pthread_self())
    #endif
}
