import Dispatch

/// How many times `normkit bench` runs a timed phase.
enum TimingPolicy: Equatable, Sendable {
    /// Warm-up calls for at least ``Sampler/warmupSeconds`` (one call at least), then timed calls
    /// until `minimumSeconds` of them and at least ``Sampler/minimumSamples`` calls, stopping at
    /// ``Sampler/maximumSamples``.
    case adaptive(minimumSeconds: Double)
    /// One warm-up call, then exactly `count` timed calls (`--iterations`): the same work on every
    /// run, which is what counting instructions needs.
    case exact(count: Int)
}

/// Takes the time of each call of a phase under a ``TimingPolicy``: the first calls warm up, the
/// later ones are samples, and ``isDone`` says when there are enough. The result is their median.
struct Sampler: Sendable {
    static let warmupSeconds = 0.05
    static let minimumSamples = 5
    static let maximumSamples = 100_000

    let policy: TimingPolicy
    /// The timed calls' durations in seconds, warm-up excluded.
    private(set) var samples: [Double] = []
    private var warmupCalls = 0
    private var warmupTime = 0.0
    private var sampledTime = 0.0

    init(_ policy: TimingPolicy) { self.policy = policy }

    /// Records one call's duration, as warm-up or as a sample.
    mutating func record(_ seconds: Double) {
        if isWarmingUp {
            warmupCalls += 1
            warmupTime += seconds
        } else {
            samples.append(seconds)
            sampledTime += seconds
        }
    }

    private var isWarmingUp: Bool {
        switch policy {
        case .exact: warmupCalls < 1
        case .adaptive: warmupCalls < 1 || warmupTime < Self.warmupSeconds
        }
    }

    /// Whether the samples reach the policy's minimum count (adaptive: ``minimumSamples``).
    var hasMinimumSamples: Bool {
        switch policy {
        case let .exact(count): samples.count >= count
        case .adaptive: samples.count >= Self.minimumSamples
        }
    }

    /// Whether the policy has its samples.
    var isDone: Bool {
        switch policy {
        case .exact:
            hasMinimumSamples
        case let .adaptive(minimumSeconds):
            samples.count >= Self.maximumSamples || (hasMinimumSamples && sampledTime >= minimumSeconds)
        }
    }

    /// The median sample in seconds (0 without samples).
    var median: Double { Self.median(of: samples) }

    /// The median of `values` (0 when empty).
    static func median(of values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted(), middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// Calls `body` until the policy is satisfied and returns the sampler with its samples.
    static func measure(_ policy: TimingPolicy, _ body: () throws -> Void) rethrows -> Sampler {
        var sampler = Sampler(policy)
        repeat {
            let start = monotonicSeconds()
            try body()
            sampler.record(monotonicSeconds() - start)
        } while !sampler.isDone
        return sampler
    }
}

/// Seconds on a monotonic clock with an arbitrary origin.
func monotonicSeconds() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}
