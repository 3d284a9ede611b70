import CBarePass
import Dispatch
import NormKit

/// `normkit bench --bare-pass`: how long the least possible work takes to move a case's floor
/// bytes on this machine, timed beside the case.
///
/// The bare pass copies x into y (forward, eval, memory-format conversion), or writes
/// dx = x XOR dy (backward): every byte of the inputs read once and every byte of the output
/// written once, with nothing computed. A case whose least work reads its inputs twice
/// (``BenchCase/inputSweeps``: channels-last BatchNorm training) first reads them whole, then
/// copies: each thread sweeps its range twice, with no wait between the sweeps, where a kernel
/// must merge its statistics there. It runs in the vectors of NormKit's loops
/// (``InstructionSet/active``), on buffers of the case's sizes that it reuses call after call,
/// as the case's calls reuse their input and their freed output: the same share of the bytes
/// stays in the caches between calls. Four ways are timed and the fastest counts: stores
/// streamed past the caches or not, on the benchmark's threads or on one (a small tensor's pass
/// takes less than waking threads).
///
/// No kernel moves those bytes in less time, so a library's time over the bare pass bounds what
/// any kernel could gain on it here: where PyTorch takes 1.4 times the bare pass, no
/// normalization can run 2× faster than PyTorch without reading or writing less.
enum BarePass {
    /// The fastest median of the four ways, in seconds; `nil` for the distributed cases.
    static func measure(_ benchCase: BenchCase, policy: TimingPolicy, threads: Int) -> Double? {
        guard let floorBytes = benchCase.floorBytes else { return nil }
        let inputCount = benchCase.mode == .backward ? 2 : 1
        let bytes = floorBytes / (inputCount + 1)
        // Inputs, then the output; each page touched first, so that no pass pays for faults.
        let buffers = (0...inputCount).map { index in
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
            buffer.initializeMemory(as: UInt8.self, repeating: UInt8(index + 1), count: bytes)
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        // Addresses cross into the Dispatch workers as integers, as in ``CopyBandwidth``.
        let addresses = buffers.map { UInt(bitPattern: $0) }
        var fastest = Double.infinity
        for threadCount in Set([1, max(1, threads)]).sorted() {
            for streamed in [false, true] {
                let sampler = Sampler.measure(policy) {
                    run(addresses, bytes: bytes, vectorsOf: InstructionSet.active, streamed: streamed, threads: threadCount,
                        inputSweeps: benchCase.inputSweeps)
                }
                fastest = min(fastest, sampler.median)
            }
        }
        return fastest
    }

    /// One pass over `bytes` of each buffer at `addresses` (an input and the output, or two
    /// inputs and the output), in the vectors of `set`, split into `threads` ranges of whole
    /// cache lines; with `inputSweeps` 2, each range of the inputs is read whole first. Returns
    /// the XOR of the bytes those first sweeps read (0 without them).
    @discardableResult
    static func run(
        _ addresses: [UInt], bytes: Int, vectorsOf set: InstructionSet, streamed: Bool, threads: Int, inputSweeps: Int = 1
    ) -> UInt8 {
        let width: bare_pass_width = switch set {
        case .avx512: BARE_PASS_64
        case .avx2: BARE_PASS_32
        case .baseline: BARE_PASS_16
        }
        let lines = (bytes + 63) / 64, flag: Int32 = streamed ? 1 : 0
        let (input, output) = (addresses[0], addresses[addresses.count - 1])
        let secondInput = addresses.count == 3 ? addresses[1] : nil
        let inputs = addresses.dropLast()  // read whole first with `inputSweeps` 2
        // One slot a thread for the XOR of what its first sweeps read; its address crosses into
        // the workers as an integer, as the buffers' do.
        let readSums = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: threads)
        readSums.initialize(repeating: 0)
        defer { readSums.deallocate() }
        let sumsAddress = UInt(bitPattern: readSums.baseAddress)
        @Sendable func pass(_ part: Int) {
            let start = min(bytes, part * lines / threads * 64), end = min(bytes, (part + 1) * lines / threads * 64)
            guard end > start else { return }
            func at(_ address: UInt) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: address + UInt(start))! }
            if inputSweeps > 1 {
                UnsafeMutablePointer<UInt8>(bitPattern: sumsAddress)![part] =
                    inputs.reduce(0) { $0 ^ bare_pass_read(width, at($1), end - start) }
            }
            if let secondInput {
                bare_pass_combine(width, at(input), at(secondInput), at(output), end - start, flag)
            } else {
                bare_pass_copy(width, at(input), at(output), end - start, flag)
            }
            bare_pass_fence()
        }
        if threads == 1 { pass(0) } else { DispatchQueue.concurrentPerform(iterations: threads, execute: pass) }
        return readSums.reduce(0, ^)
    }
}
