import Foundation

/// The one place NormKit makes the arrays of the tensors it returns (layer outputs, gradients,
/// conversions): elements on a cache line, and huge pages when ``HugePages/isEnabled``.
///
/// A Swift array keeps its elements 32 bytes into a block from `malloc`, which aligns blocks to
/// 16 bytes only, so a new array's elements start 0, 16, 32 or 48 bytes into a 64-byte cache
/// line, depending on where the heap put the block. Off a line, every 64-byte AVX-512 load spans
/// two lines, and a kernel's time depends on that lottery: channels-last BatchNorm2d
/// 32×256×28×28 backward took 2.9 or 4.0 ms from process to process on one thread (see
/// BENCHMARKS.md). PyTorch aligns its tensors to 64 bytes.
///
/// With glibc's heap (``MemoryTuning`` keeps arrays of up to 1 GiB there), a block whose
/// elements would start off a line is held while the next is asked for, 16 bytes larger, so
/// that it cannot be the same block; at most ``tries(bytes:)`` tries, the last taken wherever it
/// falls. The blocks passed over are freed before this returns. Not moved: arrays under
/// ``minimumBytes`` (in the caches, where a call's fixed costs dominate), and arrays made
/// elsewhere (macOS, or glibc with `NORMKIT_MALLOC_TUNING=0`, whose large blocks are fresh
/// pages, 16 bytes in). Arrays a caller passes in (``Tensor/init(shape:scalars:)``) are used as
/// they are.
enum TensorArrays {
    /// The alignment of the elements of the arrays made here: a cache line.
    static let lineBytes = 64

    /// Arrays smaller than this are made wherever `malloc` puts them.
    static let minimumBytes = 4 << 10

    /// The most blocks asked for before one is taken wherever it falls. Measured here, 2,000
    /// arrays of 4 KiB to 3 MiB made and freed in a changing heap: 36% fell on a line at the
    /// first try, 85% by the fourth, all by the eleventh; in the test process, which makes many
    /// arrays on several threads, up to 18 tries.
    static let attempts = 24

    /// The most bytes of blocks passed over for one array: address space held for a moment
    /// (only each block's first page is written), which bounds the tries of large arrays: an
    /// array of 256 MiB gets 9 tries, one of 1 GiB 3; larger ones, beyond the heap (in fresh
    /// pages, whose offset no try changes), get one. Fresh arrays of 17 to 256 MiB taken from the
    /// top of the heap fell on a line by the seventh try here.
    static let maximumPassedOverBytes = 2 << 30

    /// Whether large arrays come from glibc's heap, where a block passed over makes the next
    /// one fall elsewhere, and the system does not count the blocks passed over against a
    /// strict commit limit (`vm.overcommit_memory` = 2, where a held block could make an
    /// allocation fail that would have fit).
    static let placesArrays: Bool = {
        guard MemoryTuning.applied else { return false }
        #if os(Linux)
        let mode = try? String(contentsOfFile: "/proc/sys/vm/overcommit_memory", encoding: .utf8)
        return mode?.trimmingCharacters(in: .whitespacesAndNewlines) != "2"
        #else
        return true
        #endif
    }()

    /// How many blocks ``make(count:_:)`` may ask for, for an array of `bytes`.
    static func tries(bytes: Int) -> Int {
        guard bytes >= minimumBytes, bytes <= MemoryTuning.heapAllocationBytes, placesArrays else { return 1 }
        return min(attempts, 1 + maximumPassedOverBytes / bytes)
    }

    /// A new array of `count` elements, written by `body` (which sets how many it initialized),
    /// its elements on a cache line where ``placesArrays`` and the array is at least
    /// ``minimumBytes`` (with ``tries(bytes:)`` tries), backed by huge pages where
    /// ``HugePages/isEnabled``. The last try is taken wherever it falls.
    @inline(__always)
    static func make<Element>(
        count: Int, _ body: (inout UnsafeMutableBufferPointer<Element>, inout Int) throws -> Void
    ) rethrows -> [Element] {
        let bytes = count * MemoryLayout<Element>.stride, allowed = tries(bytes: bytes)
        let step = max(1, 16 / MemoryLayout<Element>.stride)  // 16 bytes more each try
        var passedOver: [[Element]] = []
        for attempt in 0..<allowed {
            var placed = false
            let array = try [Element](unsafeUninitializedCapacity: count + attempt * step) { buffer, initialized in
                if attempt < allowed - 1, let base = buffer.baseAddress, Int(bitPattern: base) % lineBytes != 0 { return }
                placed = true
                if let base = buffer.baseAddress { HugePages.advise(base, bytes: bytes) }
                var elements = UnsafeMutableBufferPointer(rebasing: buffer[..<count])
                try body(&elements, &initialized)
            }
            if placed {
                withExtendedLifetime(passedOver) {}  // held until the last try is made
                return array
            }
            passedOver.append(array)
        }
        preconditionFailure("the last try is always taken")
    }
}
