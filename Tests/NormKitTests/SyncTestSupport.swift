import Foundation
import Testing
@testable import NormKit

/// Runs `body(rank)` for every rank on its own Foundation `Thread` (never on a width-limited pool)
/// and returns each rank's result, in rank order, once all have finished.
func syncRunOnThreads<T: Sendable>(
    _ count: Int, _ body: @escaping @Sendable (Int) throws -> T
) -> [Result<T, any Error>] {
    let box = SyncResultsBox<T>(count: count)
    for rank in 0..<count {
        let thread = Thread {
            let result = Result { try body(rank) }
            box.store(result, at: rank)
        }
        thread.stackSize = 4 << 20
        thread.start()
    }
    return box.waitForAll()
}

/// Collects results written from several threads.
final class SyncResultsBox<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var results: [Result<T, any Error>?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func store(_ result: Result<T, any Error>, at index: Int) {
        condition.lock()
        results[index] = result
        condition.broadcast()
        condition.unlock()
    }

    func waitForAll() -> [Result<T, any Error>] {
        condition.lock()
        defer { condition.unlock() }
        while results.contains(where: { $0 == nil }) { condition.wait() }
        return results.map { $0! }
    }
}

/// A seeded SplitMix64 generator with standard-normal samples, for reproducible test data.
struct SyncSeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box–Muller).
    mutating func normal() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    mutating func tensor<S: NormScalar>(_ shape: [Int], scale: Double = 1, shift: Double = 0) -> Tensor<S> {
        let count = shape.reduce(1, *)
        return try! Tensor(shape: shape, scalars: (0..<count).map { _ in S(normal() * scale + shift) })
    }
}

/// Elementwise |a − e| ≤ atol + rtol·|e|, with the first offending index in the failure message.
/// NaNs must match NaNs.
func syncAssertClose<S: NormScalar>(
    _ actual: Tensor<S>?, _ expected: Tensor<S>?, rtol: Double, atol: Double, _ what: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let actual, let expected else {
        #expect(actual == nil && expected == nil, "\(what()): one side is nil", sourceLocation: sourceLocation)
        return
    }
    guard actual.shape == expected.shape else {
        Issue.record("\(what()): shape \(actual.shape) != \(expected.shape)", sourceLocation: sourceLocation)
        return
    }
    for i in actual.scalars.indices {
        let a = Double(actual.scalars[i]), e = Double(expected.scalars[i])
        if a.isNaN && e.isNaN { continue }
        if !(abs(a - e) <= atol + rtol * abs(e)) {
            Issue.record("\(what()): element \(i) is \(a), expected \(e) (shape \(actual.shape))",
                         sourceLocation: sourceLocation)
            return
        }
    }
}

/// Tolerances per scalar type for comparisons of SyncBatchNorm with BatchNorm.
func syncTolerance<S: NormScalar>(_: S.Type) -> (rtol: Double, atol: Double) {
    S.self == Float.self ? (2e-5, 2e-5) : (1e-11, 1e-11)
}
