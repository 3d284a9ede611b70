import Foundation
import Testing
@testable import NormKit

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
        #expect(Parallelism.chunkCount(taskCount: 100, elements: Parallelism.minimumParallelElements - 1) == 1)
        #expect(Parallelism.chunkCount(taskCount: 0, elements: 1 << 30) == 0)
    }

    @Test func concurrentCallersGetTheSerialResultWithoutExtraThreads() throws {
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

    /// The process's thread count, where the platform shows it.
    static func threadCount() -> Int? {
        #if os(Linux)
        return (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task"))?.count
        #else
        return nil
        #endif
    }
}
