import NormKit
import Testing

// Shared by NormKitTests and NormKitLabTests: elementwise comparison and typed-error checks.


/// Tolerances for elementwise comparison: |a − e| ≤ absolute + relative·|e|.
public struct Tolerance: Sendable {
    public var absolute: Double
    public var relative: Double

    public init(absolute: Double, relative: Double) {
        self.absolute = absolute
        self.relative = relative
    }

    /// The tolerance for comparing a scalar type's results against a reference of the same type.
    public static func forType<Scalar: NormScalar>(_: Scalar.Type) -> Tolerance {
        Scalar.self == Float.self ? Tolerance(absolute: 2e-5, relative: 2e-4) : Tolerance(absolute: 1e-11, relative: 1e-9)
    }
}

/// Compares two sequences elementwise and records one failure naming the first bad index,
/// the worst error and `context` (the case and quantity being compared).
public func assertClose<A: Sequence, B: Sequence>(
    _ actual: A, _ expected: B, _ tolerance: Tolerance, _ context: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) where A.Element: BinaryFloatingPoint, B.Element: BinaryFloatingPoint {
    let a = actual.map { Double($0) }, e = expected.map { Double($0) }
    guard a.count == e.count else {
        Issue.record("\(context()): \(a.count) values, expected \(e.count)", sourceLocation: sourceLocation)
        return
    }
    var firstBad: Int?
    var worst = 0.0
    for i in a.indices {
        let error = abs(a[i] - e[i])
        let bound = tolerance.absolute + tolerance.relative * abs(e[i])
        let bothNaN = a[i].isNaN && e[i].isNaN
        if !bothNaN && !(error <= bound) {
            firstBad = firstBad ?? i
            worst = max(worst, error.isNaN ? .infinity : error)
        }
    }
    if let i = firstBad {
        Issue.record("\(context()): element \(i) is \(a[i]), expected \(e[i]); worst error \(worst)",
                     sourceLocation: sourceLocation)
    }
}

/// Compares two tensors (or two absent tensors) elementwise: shapes must match, then values.
public func assertClose<S: NormScalar>(
    _ actual: Tensor<S>?, _ expected: Tensor<S>?, _ tolerance: Tolerance, _ context: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let actual, let expected else {
        #expect(actual == nil && expected == nil, "\(context()): one side is nil", sourceLocation: sourceLocation)
        return
    }
    guard actual.shape == expected.shape else {
        Issue.record("\(context()): shape \(actual.shape), expected \(expected.shape)", sourceLocation: sourceLocation)
        return
    }
    assertClose(actual.scalars, expected.scalars, tolerance, context(), sourceLocation: sourceLocation)
}

/// Asserts that `body` throws exactly `expected`.
public func assertThrows<T>(
    _ expected: NormError, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T
) {
    do {
        _ = try body()
        Issue.record("expected \(expected) to be thrown, nothing was", sourceLocation: sourceLocation)
    } catch let error as NormError {
        #expect(error == expected, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
    }
}

/// The first index where `actual` and `expected` differ in their bits (compared through `Double`,
/// exact for every element type), with both values; nil when they are the same to the bit.
public func firstBitDifference<T: BinaryFloatingPoint>(_ actual: [T], _ expected: [T]) -> (index: Int, Double, Double)? {
    actual.indices.first { Double(actual[$0]).bitPattern != Double(expected[$0]).bitPattern }
        .map { ($0, Double(actual[$0]), Double(expected[$0])) }
}
