import Dispatch
#if canImport(Synchronization)
import Synchronization
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#elseif canImport(WinSDK)
import WinSDK
#endif

/// A ``LocalCommunicator``'s generation number, readable without its lock, so that a rank that
/// arrives early in a collective can spin on it for a moment instead of parking at once; and a
/// running average of how long ranks waited, which decides whether spinning pays.
///
/// The rank that completes a collective stores the outcome and only then publishes the next
/// generation (release ordering); a rank that sees the new generation in ``awaitChange(from:for:)``
/// (acquire ordering) therefore also sees that outcome.
protocol PublishedGeneration: AnyObject, Sendable {
    /// Makes `generation` visible to spinning ranks, after every write that precedes this call.
    func publish(_ generation: Int)

    /// Spins until the published generation differs from `generation` and returns true, or returns
    /// false once `nanoseconds` have passed. The first few hundred polls are plain loads; later
    /// polls each yield the core (`sched_yield`), so that ranks that have no core of their own
    /// (more ranks than cores) get to run and arrive.
    ///
    /// Returns false at once, without spinning, while the recent waits (``recordWait(_:)``)
    /// average more than `nanoseconds`: such a spin would most likely run out, and on a loaded
    /// machine each yield can hand the core to an unrelated thread for a whole time slice.
    func awaitChange(from generation: Int, for nanoseconds: UInt64) -> Bool

    /// Adds how long a rank waited in a collective, spinning or parked, to the running average.
    func recordWait(_ nanoseconds: UInt64)
}

/// The published generation where the platform has `Synchronization.Atomic` (Linux, Windows,
/// macOS 15, iOS 18 and later); `nil` elsewhere, where every waiting rank parks at once.
func makePublishedGeneration() -> (any PublishedGeneration)? {
    #if canImport(Synchronization)
    if #available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, visionOS 2.0, *) {
        return AtomicGeneration()
    }
    #endif
    return nil
}

#if canImport(Synchronization)
@available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, visionOS 2.0, *)
private final class AtomicGeneration: PublishedGeneration {
    /// Plain loads before the spin starts yielding: about 0.1 µs while the line stays cached.
    private static let pollsBeforeYielding = 256
    /// Longer waits count as this long, so that one wait moves the average by at most 25 µs: with
    /// the 50 µs spin, three long waits in a row turn spinning off, and at most a dozen short ones
    /// turn it back on (a single stray wait, such as a rank descheduled for a time slice, does not).
    private static let longestRecordedWait = 200_000
    /// The weight of the newest wait in the running average is 1 / 2^averagingShift.
    private static let averagingShift = 3

    private let value = Atomic<Int>(0)
    /// Exponential moving average of the recorded waits, in nanoseconds. Concurrent updates may
    /// drop one another's contribution, which only makes the average a little noisier.
    private let averageWait = Atomic<Int>(0)

    func publish(_ generation: Int) {
        value.store(generation, ordering: .releasing)
    }

    func awaitChange(from generation: Int, for nanoseconds: UInt64) -> Bool {
        guard averageWait.load(ordering: .relaxed) <= nanoseconds else { return false }
        var polls = 0
        let start = DispatchTime.now().uptimeNanoseconds
        while value.load(ordering: .acquiring) == generation {
            polls += 1
            guard polls > Self.pollsBeforeYielding else { continue }
            guard DispatchTime.now().uptimeNanoseconds - start < nanoseconds else { return false }
            yieldCore()
        }
        return true
    }

    func recordWait(_ nanoseconds: UInt64) {
        let wait = Int(min(nanoseconds, UInt64(Self.longestRecordedWait)))
        let average = averageWait.load(ordering: .relaxed)
        averageWait.store(average + (wait - average) >> Self.averagingShift, ordering: .relaxed)
    }
}
#endif

/// Offers this thread's core to another runnable thread.
private func yieldCore() {
    #if canImport(Glibc) || canImport(Musl) || canImport(Darwin)
    sched_yield()
    #elseif canImport(WinSDK)
    _ = SwitchToThread()
    #endif
}
