import Dispatch

/// The memory bandwidth that `normkit bench` holds the kernels to: copying a buffer far larger
/// than the caches, counting the bytes read plus the bytes written.
///
/// The copy is split over the benchmark's thread count, as NormKit's kernels split their work,
/// on the same Dispatch pool. The first copy warms up; the result is the median of the others.
enum CopyBandwidth {
    /// 256 MiB per buffer: eight times this machine's 32 MiB L3.
    static let bufferBytes = 256 << 20
    static let copies = 5

    /// Bytes read plus bytes written per second, in GB/s (10⁹ bytes per second).
    static func measure(threads: Int) -> Double {
        let source = UnsafeMutableRawPointer.allocate(byteCount: bufferBytes, alignment: 64)
        let destination = UnsafeMutableRawPointer.allocate(byteCount: bufferBytes, alignment: 64)
        defer {
            source.deallocate()
            destination.deallocate()
        }
        // Touch every page first, so that no copy pays for page faults.
        source.initializeMemory(as: UInt8.self, repeating: 1, count: bufferBytes)
        destination.initializeMemory(as: UInt8.self, repeating: 0, count: bufferBytes)

        let chunks = max(1, threads)
        // Addresses cross into the Dispatch workers as integers; each worker copies its own range.
        let from = UInt(bitPattern: source), to = UInt(bitPattern: destination)
        let sampler = Sampler.measure(.exact(count: copies)) {
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = UInt(chunk * bufferBytes / chunks), end = UInt((chunk + 1) * bufferBytes / chunks)
                UnsafeMutableRawPointer(bitPattern: to + start)!
                    .copyMemory(from: UnsafeRawPointer(bitPattern: from + start)!, byteCount: Int(end - start))
            }
        }
        return Double(2 * bufferBytes) / sampler.median / 1e9
    }
}
