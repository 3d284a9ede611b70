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
    static let applied: Bool = {
        #if canImport(Glibc)
        guard ProcessInfo.processInfo.environment["NORMKIT_MALLOC_TUNING"] != "0",
              let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD in <malloc.h>
        let oneGiB: Int32 = 1 << 30
        return mallopt(mmapThreshold, oneGiB) == 1 && mallopt(trimThreshold, oneGiB) == 1
        #else
        return false
        #endif
    }()
}
