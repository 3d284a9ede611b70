import Foundation
@testable import NormKit
import NormKitTestSupport

extension KernelSettings {
    /// The element types whose loops each table holds its own of: `Float`, `Double`, and a 16-bit
    /// type (`bfloat16`'s loops are `Float16`'s with another widening).
    static let loopTypes: [any NormScalar.Type] = [Float.self, Double.self, BFloat16.self]

    /// Runs `body` once in each instruction set this CPU supports (``InstructionSet/supported``
    /// and those below it), each time under ``lock`` with the loops switched to that set.
    static func inEveryInstructionSet(_ body: () throws -> Void) rethrows {
        for set in InstructionSet.allCases where set <= InstructionSet.supported {
            try lock.withLock { try NativeLoops.withInstructionSet(set, body) }
        }
    }
}
