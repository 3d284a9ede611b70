#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Keeps large outputs off fresh `mmap` pages on Linux.
///
/// glibc serves allocations above its mmap threshold (at most 32 MiB) with fresh `mmap` pages
/// and returns them to the system on `free`, so every call that makes such an output page-faults
/// it in again: measured here, 0.42 ms per MiB, 13 ms for a 32 MiB LayerNorm output — several
/// times the normalization itself. The first kernel call therefore raises glibc's mmap and trim
/// thresholds to 1 GiB (`mallopt(M_MMAP_THRESHOLD)`, `mallopt(M_TRIM_THRESHOLD)`), so freed
/// outputs stay in the heap and the next call reuses them. The cost: up to 1 GiB of freed
/// memory may stay with the process instead of returning to the system. Set
/// `NORMKIT_MALLOC_TUNING=0` to leave malloc's defaults alone. Elsewhere (macOS, or a C library
/// without `mallopt`) nothing changes.
enum MemoryTuning {
    /// glibc's mmap and trim thresholds once ``applied``: allocations up to this size come from
    /// the heap.
    static let heapAllocationBytes = 1 << 30

    static let applied: Bool = {
        #if canImport(Glibc)
        guard ProcessInfo.processInfo.environment["NORMKIT_MALLOC_TUNING"] != "0",
              let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD in <malloc.h>
        let threshold = Int32(heapAllocationBytes)
        return mallopt(mmapThreshold, threshold) == 1 && mallopt(trimThreshold, threshold) == 1
        #else
        return false
        #endif
    }()
}

/// Backs large new arrays with transparent huge pages on Linux, when asked:
/// `NORMKIT_HUGE_PAGES=1` in the environment, or ``isEnabled`` set at run time. Off by default,
/// as PyTorch's `THP_MEM_ALLOC_ENABLE`, because it trades the first touch of memory for the
/// sweeps after it.
///
/// A kernel's tensors are tens of megabytes swept in order; on 4 KiB pages every sweep misses the
/// TLB on each page (twice over in a virtual machine, whose misses walk two page tables). With
/// transparent huge pages in `madvise` mode (Debian's and Ubuntu's default), memory gets 2 MiB
/// pages only when it asks, before it is first touched: when enabled, every array of at least
/// two huge pages that NormKit makes (layer outputs, gradients, conversions) asks with
/// `madvise(MADV_HUGEPAGE)` over the whole huge pages inside it. Measured here, alternating
/// processes, medians of 3–5, against 4 KiB pages:
/// - calls whose arrays reuse memory (a training loop): LayerNorm backward 1.09–1.14× faster on
///   one thread (8192×1024, 16384×1024; also from another package), 1.02–1.10× on two;
///   BatchNorm1d 64×256×1024 backward 1.07×; LayerNorm 16384×1024 `Double` forward 1.15–1.3×
///   from another package; the other large cases of `normkit bench` within ±5%, the noise;
/// - a call whose output is fresh memory (the first, or one after the process grew): 4–6× slower
///   (LayerNorm 16384×1024 `Double` forward, 128 MiB: 168–221 ms against 32–40 ms), each 2 MiB page
///   costing 0.26–0.34 ms to fault in on this virtual machine.
/// Elsewhere (macOS, or a kernel without transparent huge pages) nothing changes.
public enum HugePages {
    /// The size of a transparent huge page, or nil where the kernel has none.
    static let transparentPageBytes: Int? = {
        #if canImport(Glibc)
        guard let text = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", encoding: .utf8),
              let bytes = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes > 0, bytes & (bytes - 1) == 0
        else { return nil }
        return bytes
        #else
        return nil
        #endif
    }()

    private static let enabled = ProcessSetting(ProcessInfo.processInfo.environment["NORMKIT_HUGE_PAGES"] == "1")

    /// Whether the arrays of at least two huge pages (4 MiB here) that NormKit makes from now on
    /// ask for huge pages. Starts as `NORMKIT_HUGE_PAGES=1` in the environment says (off
    /// otherwise); a process-wide setting, as ``Parallelism/threadCount``. Without transparent
    /// huge pages (macOS, or a kernel without them) it changes nothing.
    public static var isEnabled: Bool {
        get { enabled.value }
        set { enabled.value = newValue }
    }

    /// Runs `body` with ``isEnabled`` set to `value`, then restores it (tests).
    static func withEnabled<R>(_ value: Bool, _ body: () throws -> R) rethrows -> R {
        try enabled.with(value, body)
    }

    /// Asks for huge pages over the whole huge pages inside `bytes` bytes from `base`, memory not
    /// yet written (pages already touched keep their size until the kernel's background
    /// collapse), when `bytes` spans at least two of them (so that one lies inside whatever the
    /// alignment). A hint: the contents never change, and a refusal changes nothing.
    static func advise(_ base: UnsafeMutableRawPointer, bytes: Int) {
        #if canImport(Glibc)
        guard let page = transparentPageBytes, bytes >= 2 * page, isEnabled else { return }
        let address = Int(bitPattern: base)
        let start = (address + page - 1) & ~(page - 1), end = (address + bytes) & ~(page - 1)
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE)
        #endif
    }
}
