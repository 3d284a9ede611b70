internal import CNormKitKernels
import Foundation

/// How many threads NormKit's kernels may use, and the one place that splits work across them.
///
/// The kernels run on one pool of worker threads (`nk_pool.c` in CNormKitKernels), made on first
/// use and reused, never one per call. After a job its workers spin for 0.2 ms before they sleep,
/// so back-to-back kernel calls hand work over in about a microsecond (waking a parked thread,
/// as Dispatch's pool does, costs 10–20 µs). The pool runs one job at a time: a caller that finds
/// it busy (another rank of a ``LocalProcessGroup``, say, or a nested call) runs its chunks on
/// its own thread, so concurrent callers neither deadlock, nor wait on each other, nor multiply
/// the threads. Work smaller than ``minimumParallelElements`` stays on the calling thread.
///
/// The thread count is `NORMKIT_NUM_THREADS` when that environment variable holds a positive
/// integer, otherwise the number of active processors; ``threadCount`` changes it at run time.
public enum Parallelism {
    private static let threads = ProcessSetting(defaultThreadCount(), normalized: { max(1, $0) })

    /// The most threads one kernel call uses; at least 1. Setting it affects later calls.
    public static var threadCount: Int {
        get { threads.value }
        set { threads.value = newValue }
    }

    /// Runs `body` with ``threadCount`` set to `count`, then restores it. For tests and benchmarks:
    /// the setting is process-wide, so calls on other threads meanwhile see it too.
    static func withThreadCount<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        try threads.with(count, body)
    }

    private static let parallelThreshold = ProcessSetting(1 << 15, normalized: { max(1, $0) })

    /// Elements of work below which a kernel call stays on the calling thread: 32K, where handing
    /// half the work to a spinning pool worker (about 1 µs) starts to pay; measured on BatchNorm2d
    /// 64×32×7×7, forward 17 → 10 µs and backward 26 → 14 µs with 2 threads against a threshold
    /// of 256K. Tests lower it to reach the threaded paths with small tensors.
    public internal(set) static var minimumParallelElements: Int {
        get { parallelThreshold.value }
        set { parallelThreshold.value = newValue }
    }

    /// Runs `body` with ``minimumParallelElements`` set to `elements`, then restores it (tests).
    static func withMinimumParallelElements<R>(_ elements: Int, _ body: () throws -> R) rethrows -> R {
        try parallelThreshold.with(elements, body)
    }

    /// `NORMKIT_NUM_THREADS` if it is a positive integer, else the active processor count.
    static func defaultThreadCount() -> Int {
        if let text = ProcessInfo.processInfo.environment["NORMKIT_NUM_THREADS"], let value = Int(text), value > 0 {
            return value
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Calls `body` with disjoint ranges that together cover `0..<taskCount`, on up to
    /// ``threadCount`` threads when `elements` (the work in all, in elements) is large enough.
    /// Returns when every range is done.
    static func forEachChunk(taskCount: Int, elements: Int, _ body: (Range<Int>) -> Void) {
        let chunks = chunkCount(taskCount: taskCount, elements: elements)
        guard chunks > 1 else {
            if taskCount > 0 { body(0..<taskCount) }
            nk_store_fence()
            return
        }
        runChunks(chunks) { chunk in body(chunkRange(chunk, of: chunks, taskCount: taskCount)) }
    }

    /// Like ``forEachChunk(taskCount:elements:_:)``, and returns each chunk's result in chunk order.
    static func mapChunks<T>(taskCount: Int, elements: Int, _ body: (Range<Int>) -> T) -> [T] {
        let chunks = chunkCount(taskCount: taskCount, elements: elements)
        guard chunks > 1 else {
            defer { nk_store_fence() }
            return taskCount > 0 ? [body(0..<taskCount)] : []
        }
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: chunks)
        results.initialize(repeating: nil)
        defer { results.deinitialize(); results.deallocate() }
        runChunks(chunks) { chunk in results[chunk] = body(chunkRange(chunk, of: chunks, taskCount: taskCount)) }
        return results.map { $0! }
    }

    /// Calls `body(chunk)` for every chunk in `0..<chunks` on the kernel pool (`nk_parallel_for`
    /// in CNormKitKernels), on up to ``threadCount`` threads, the caller's included. Returns
    /// whether pool workers could help (false: the caller ran every chunk, the pool being busy).
    @discardableResult
    static func runChunks(_ chunks: Int, _ body: (Int) -> Void) -> Bool {
        withoutActuallyEscaping(body) { body in
            var task = body
            return withUnsafeMutablePointer(to: &task) { pointer in
                nk_parallel_for(chunks, threadCount, { context, chunk in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(chunk)
                }, pointer) != 0
            }
        }
    }

    /// How many chunks `forEachChunk` splits `taskCount` tasks into.
    static func chunkCount(taskCount: Int, elements: Int, threshold: Int = minimumParallelElements,
                           threads: Int = threadCount) -> Int {
        guard elements >= threshold else { return min(taskCount, 1) }
        return max(min(taskCount, threads, elements / max(threshold / 2, 1)), min(taskCount, 1))
    }

    /// The `chunk`-th of `chunks` near-equal ranges of `0..<taskCount`.
    static func chunkRange(_ chunk: Int, of chunks: Int, taskCount: Int) -> Range<Int> {
        (chunk * taskCount / chunks)..<((chunk + 1) * taskCount / chunks)
    }
}

/// Carries a value the caller knows to be used safely across threads (disjoint ranges of one
/// buffer, written by one thread each).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
