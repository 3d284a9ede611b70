import Dispatch
import Foundation

/// How many threads NormKit's kernels may use, and the one place that splits work across them.
///
/// The kernels run on Dispatch's global worker pool (`DispatchQueue.concurrentPerform`): the
/// threads are made once and reused, never one per call. Several callers at once (the ranks of a
/// ``LocalProcessGroup``, say) share that pool, whose width is bounded by the core count, so they
/// neither deadlock nor multiply the threads. Work smaller than ``minimumParallelElements``
/// stays on the calling thread, so small tensors pay no hand-off.
///
/// The thread count is `NORMKIT_NUM_THREADS` when that environment variable holds a positive
/// integer, otherwise the number of active processors; ``threadCount`` changes it at run time.
public enum Parallelism {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var configured = defaultThreadCount()

    /// The most threads one kernel call uses; at least 1. Setting it affects later calls.
    public static var threadCount: Int {
        get { lock.withLock { configured } }
        set { lock.withLock { configured = max(1, newValue) } }
    }

    /// Runs `body` with ``threadCount`` set to `count`, then restores it. For tests and benchmarks:
    /// the setting is process-wide, so calls on other threads meanwhile see it too.
    static func withThreadCount<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        try with(\.threadCount, count, body)
    }

    nonisolated(unsafe) private static var parallelThreshold = 1 << 18

    /// Elements of work below which a kernel call stays on the calling thread: 256K, since waking
    /// a pool thread costs 10–20 µs here. Tests lower it to reach the threaded paths with small
    /// tensors.
    public internal(set) static var minimumParallelElements: Int {
        get { lock.withLock { parallelThreshold } }
        set { lock.withLock { parallelThreshold = max(1, newValue) } }
    }

    /// Runs `body` with ``minimumParallelElements`` set to `elements`, then restores it (tests).
    static func withMinimumParallelElements<R>(_ elements: Int, _ body: () throws -> R) rethrows -> R {
        try with(\.minimumParallelElements, elements, body)
    }

    /// Runs `body` with the setting at `keyPath` changed to `value`, then restores it.
    private static func with<R>(_ keyPath: ReferenceWritableKeyPath<Parallelism.Type, Int>, _ value: Int,
                                _ body: () throws -> R) rethrows -> R {
        let saved = Parallelism.self[keyPath: keyPath]
        Parallelism.self[keyPath: keyPath] = value
        defer { Parallelism.self[keyPath: keyPath] = saved }
        return try body()
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
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                box.value(chunkRange(chunk, of: chunks, taskCount: taskCount))
            }
        }
    }

    /// Like ``forEachChunk(taskCount:elements:_:)``, and returns each chunk's result in chunk order.
    static func mapChunks<T>(taskCount: Int, elements: Int, _ body: (Range<Int>) -> T) -> [T] {
        let chunks = chunkCount(taskCount: taskCount, elements: elements)
        guard chunks > 1 else { return taskCount > 0 ? [body(0..<taskCount)] : [] }
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: chunks)
        results.initialize(repeating: nil)
        defer { results.deinitialize(); results.deallocate() }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable((body, results))
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                box.value.1[chunk] = box.value.0(chunkRange(chunk, of: chunks, taskCount: taskCount))
            }
        }
        return results.map { $0! }
    }

    /// How many chunks `forEachChunk` splits `taskCount` tasks into.
    static func chunkCount(taskCount: Int, elements: Int) -> Int {
        let threshold = minimumParallelElements
        guard elements >= threshold else { return min(taskCount, 1) }
        return max(min(taskCount, threadCount, elements / max(threshold / 2, 1)), min(taskCount, 1))
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
