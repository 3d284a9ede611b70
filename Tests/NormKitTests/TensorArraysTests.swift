import Testing
@testable import NormKit

/// The arrays NormKit makes for the tensors it returns start on a cache line where it places
/// them (``TensorArrays``), and hold what was written whatever the block.
@Suite struct TensorArraysTests {
    static func lineOffset<S>(_ values: [S]) -> Int {
        values.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress!) % TensorArrays.lineBytes }
    }

    /// Arrays of many sizes, made while others of the same sizes are alive and after they are
    /// freed (the heap's blocks at every offset), each on a line, holding what its body wrote.
    @Test func largeArraysStartOnACacheLine() {
        guard TensorArrays.placesArrays else { return }
        var alive: [[Float]] = [], offLine = 0
        for round in 0..<40 {
            let count = 1024 + 37 * round + (round % 3) * 4096
            let values: [Float] = TensorArrays.make(count: count) { buffer, initialized in
                for i in 0..<count { buffer[i] = Float(i &* 7 % 101) }
                initialized = count
            }
            #expect(values.count == count)
            #expect(values.indices.allSatisfy { values[$0] == Float($0 &* 7 % 101) })
            if Self.lineOffset(values) != 0 { offLine += 1 }
            if round % 4 == 3 { alive.removeAll() } else { alive.append(values) }
        }
        #expect(offLine <= 1)  // each try falls on a line about one time in three: 24 tries rarely all miss
    }

    /// Large arrays get fewer tries, so that the blocks passed over never hold more than
    /// 2 GiB of address space; small ones get one (taken wherever it falls), as do all where
    /// arrays are not placed.
    @Test func triesAreBoundedByTheBytesPassedOver() {
        #expect(TensorArrays.tries(bytes: 100) == 1)
        guard TensorArrays.placesArrays else {
            #expect(TensorArrays.tries(bytes: 1 << 20) == 1)
            return
        }
        #expect(TensorArrays.tries(bytes: 4 << 10) == TensorArrays.attempts)
        #expect(TensorArrays.tries(bytes: 1 << 20) == TensorArrays.attempts)
        #expect(TensorArrays.tries(bytes: 256 << 20) == 9)
        #expect(TensorArrays.tries(bytes: 1 << 30) == 3)
        #expect(TensorArrays.tries(bytes: (1 << 30) + 1) == 1)
        for bytes in [4 << 10, 1 << 20, 100 << 20, 256 << 20, 1 << 30, 3 << 30] {
            #expect((TensorArrays.tries(bytes: bytes) - 1) * bytes <= TensorArrays.maximumPassedOverBytes)
        }
    }

    /// The outputs of layers, forward and backward, in every scalar type, as a user gets them.
    @Test func layerOutputsStartOnACacheLine() throws {
        guard TensorArrays.placesArrays else { return }
        var random = SeededGenerator(seed: 11)
        var offsets: [Int] = []
        for _ in 0..<8 {
            let x = Tensor<Float>.randomNormal(shape: [4, 8, 10, 10], using: &random)
            let dy = Tensor<Float>.randomNormal(shape: [4, 8, 10, 10], using: &random)
            let layer = BatchNorm2d<Float>(numFeatures: 8)
            let y = try layer(x)
            let dx = try layer.backward(dy)
            let half = try BatchNorm2d<Float>(numFeatures: 8)(x.converted(to: BFloat16.self).withMemoryFormat(.channelsLast))
            let double = try LayerNorm<Double>(normalizedShape: [10])(x.converted(to: Double.self))
            offsets += [x.storage, y.storage, dx.storage].map(Self.lineOffset)
            offsets += [Self.lineOffset(half.storage), Self.lineOffset(double.storage)]
        }
        #expect(offsets.filter { $0 != 0 }.count <= 1)
    }
}
