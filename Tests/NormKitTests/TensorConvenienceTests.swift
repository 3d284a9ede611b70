import Testing
@testable import NormKit
import NormKitTestSupport

/// Filling and reading tensors: literals, nested arrays, random initializers, in-place access
/// and PyTorch-style printing.
@Suite struct TensorConvenienceTests {
    @Test func arrayLiteralsMakeOneDimensionalTensors() {
        let x: Tensor<Float> = [1, 2, 3]
        #expect(x.shape == [3] && x.scalars == [1, 2, 3])
        let empty: Tensor<Double> = []
        #expect(empty.shape == [0])
        #expect(Tensor<Double>([4, 5]).shape == [2])
    }

    @Test func nestedArraysGiveTheirShape() throws {
        let matrix = try Tensor<Float>([[1, 2, 3], [4, 5, 6]])
        #expect(matrix.shape == [2, 3] && matrix[1, 2] == 6 && matrix.scalars == [1, 2, 3, 4, 5, 6])
        let cube = try Tensor<Double>([[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]])
        #expect(cube.shape == [3, 2, 2] && cube[2, 0, 1] == 10)
        let image = try Tensor<Float>([[[[1, 2]], [[3, 4]]]])
        #expect(image.shape == [1, 2, 1, 2] && image[0, 1, 0, 0] == 3)
        let volume = try Tensor<Float>([[[[[1], [2]]]]])
        #expect(volume.shape == [1, 1, 1, 2, 1])
        #expect(try Tensor<Float>([[Float]]()).shape == [0, 0])
        #expect(try Tensor<Float>([[] as [Float], []]).shape == [2, 0])
        #expect(try Tensor<Float>([[[Float]]]()).shape == [0, 0, 0])
        #expect(try Tensor<Float>([[[Float]](), []]).shape == [2, 0, 0])
        // Works straight into a layer.
        #expect(try BatchNorm1d<Float>(numFeatures: 3)(matrix).shape == [2, 3])
    }

    @Test func raggedNestedArraysThrowPyTorchsError() {
        let error = NormError.raggedArray(dimension: 1, expected: 3, actual: 2)
        assertThrows(error) { try Tensor<Float>([[1, 2, 3], [4, 5]]) }
        #expect(error.description == "expected sequence of length 3 at dim 1 (got 2)")
        assertThrows(.raggedArray(dimension: 2, expected: 2, actual: 1)) { try Tensor<Float>([[[1, 2], [3, 4]], [[5, 6], [7]]]) }
        assertThrows(.raggedArray(dimension: 1, expected: 2, actual: 1)) { try Tensor<Float>([[[1, 2], [3, 4]], [[5, 6]]]) }
        assertThrows(.raggedArray(dimension: 3, expected: 2, actual: 3)) { try Tensor<Float>([[[[1, 2]]], [[[1, 2, 3]]]]) }
        assertThrows(.raggedArray(dimension: 1, expected: 0, actual: 1)) { try Tensor<Float>([[], [1]]) }
        assertThrows(.raggedArray(dimension: 4, expected: 1, actual: 2)) { try Tensor<Float>([[[[[1]]]], [[[[1, 2]]]]]) }
    }

    /// A generator NormKit cannot see, forwarding to a seeded one.
    struct OpaqueGenerator: RandomNumberGenerator {
        var inner: SeededGenerator
        mutating func next() -> UInt64 { inner.next() }
    }

    @Test func randomTensorsTakeAnyGeneratorAndKeepTheSeededStream() {
        var seeded = SeededGenerator(seed: 5), opaque = OpaqueGenerator(inner: SeededGenerator(seed: 5))
        let a = Tensor<Float>.randomNormal(shape: [3, 7], mean: 1, std: 2, using: &seeded)
        let b = Tensor<Float>.randomNormal(shape: [3, 7], mean: 1, std: 2, using: &opaque)
        #expect(a == b && a.shape == [3, 7])
        // The seeded stream is the one SeededGenerator.normal() gives, as before.
        var manual = SeededGenerator(seed: 5)
        #expect(a.scalars == (0..<21).map { _ in Float(1 + 2 * manual.normal()) })
        let u = Tensor<Double>.randomUniform(shape: [2, 5], in: -1..<3, using: &seeded)
        let v = Tensor<Double>.randomUniform(shape: [2, 5], in: -1..<3, using: &opaque)
        #expect(u == v && u.scalars.allSatisfy { $0 >= -1 && $0 < 3 })
        var system = SystemRandomNumberGenerator()
        #expect(Tensor<Float>.randomUniform(shape: [4], using: &system).shape == [4])
        #expect(Tensor<Float>.randomNormal(shape: [0, 3]).shape == [0, 3])
        #expect(Tensor<Double>.randomUniform(shape: []).count == 1)
    }

    @Test func uniformSamplesStayBelowTheUpperBoundAfterRounding() {
        var random = SeededGenerator(seed: 6)
        // Doubles just below 1 round to 1 in Float; they must not.
        let unit = Tensor<Float>.randomUniform(shape: [20_000], using: &random).scalars
        #expect(unit.allSatisfy { $0 >= 0 && $0 < 1 })
        let narrow = Tensor<Float>.randomUniform(shape: [100], in: 1..<Float(1).nextUp, using: &random).scalars
        #expect(narrow.allSatisfy { $0 == 1 })
        let wide = Tensor<Double>.randomUniform(shape: [100], in: -Double.greatestFiniteMagnitude..<Double.greatestFiniteMagnitude,
                                                using: &random).scalars
        #expect(wide.allSatisfy { $0.isFinite })
        let mean = unit.map(Double.init).reduce(0, +) / Double(unit.count)
        let variance = unit.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / Double(unit.count - 1)
        #expect(abs(mean - 0.5) < 5 * (1.0 / 12 / 20_000).squareRoot())
        #expect(abs(variance - 1.0 / 12) < 0.05 / 12)
    }

    @Test func elementsCanBeWrittenInPlaceInEitherMemoryFormat() throws {
        var x = Tensor<Float>.zeros(shape: [2, 3])
        x.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices { buffer[i] = Float(i) }
        }
        #expect(x.scalars == [0, 1, 2, 3, 4, 5])
        x[1, 0] = -1
        #expect(x.scalars == [0, 1, 2, -1, 4, 5])
        // Channels-last: the buffer is memory order (N, H, W, C); the subscript stays logical.
        var image = Tensor<Float>.zeros(shape: [1, 2, 1, 2]).withMemoryFormat(.channelsLast)
        image.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices { buffer[i] = Float(i) }   // (h, w, c): c is innermost
        }
        #expect(image.memoryFormat == .channelsLast && image.storage == [0, 1, 2, 3])
        #expect(image[0, 1, 0, 0] == 1 && image[0, 0, 0, 1] == 2)
        #expect(image.scalars == [0, 2, 1, 3])
        image[0, 1, 0, 1] = 9
        #expect(image.storage == [0, 1, 2, 9])
        #expect(image.withUnsafeBufferPointer { Array($0) } == [0, 1, 2, 9])
        // Copy on write: a copy taken before the write keeps its values.
        let copy = x
        x.withUnsafeMutableBufferPointer { $0[0] = 42 }
        #expect(copy[0, 0] == 0 && x[0, 0] == 42)
    }

    @Test func descriptionPrintsLikePyTorch() throws {
        // Expected strings from torch 2.x: print(torch.tensor(...)), with shape and dtype added.
        let x = try Tensor<Float>([[0.33669037, 0.12880941, 0.23446237], [0.23033303, -1.1228564, -0.18632829]])
        #expect(x.description == """
            Tensor([[ 0.3367,  0.1288,  0.2345],
                    [ 0.2303, -1.1229, -0.1863]], shape: [2, 3], dtype: float32)
            """)
        #expect(Tensor<Double>([1, 2, 3]).description == "Tensor([1., 2., 3.], shape: [3], dtype: float64)")
        #expect(Tensor<Float>([1e-5, 1]).description == "Tensor([1.0000e-05, 1.0000e+00], shape: [2], dtype: float32)")
        #expect(Tensor<Float>([1e10, 1]).description == "Tensor([1.0000e+10, 1.0000e+00], shape: [2], dtype: float32)")
        #expect(Tensor<Float>(repeating: 3.5, shape: []).description == "Tensor(3.5000, shape: [], dtype: float32)")
        #expect(Tensor<Float>.zeros(shape: [0, 3]).description == "Tensor([], shape: [0, 3], dtype: float32)")
        #expect(Tensor<Float>([.nan, 1.5, .infinity]).description == "Tensor([   nan, 1.5000,    inf], shape: [3], dtype: float32)")
        let cube = try Tensor<Float>(shape: [2, 3, 4], scalars: (0..<24).map(Float.init))
        #expect(cube.description == """
            Tensor([[[ 0.,  1.,  2.,  3.],
                     [ 4.,  5.,  6.,  7.],
                     [ 8.,  9., 10., 11.]],

                    [[12., 13., 14., 15.],
                     [16., 17., 18., 19.],
                     [20., 21., 22., 23.]]], shape: [2, 3, 4], dtype: float32)
            """)
        // torch.arange(30.) / 7 wraps at 80 columns.
        let long = Tensor<Float>((0..<30).map { Float($0) / 7 })
        #expect(long.description == """
            Tensor([0.0000, 0.1429, 0.2857, 0.4286, 0.5714, 0.7143, 0.8571, 1.0000, 1.1429,
                    1.2857, 1.4286, 1.5714, 1.7143, 1.8571, 2.0000, 2.1429, 2.2857, 2.4286,
                    2.5714, 2.7143, 2.8571, 3.0000, 3.1429, 3.2857, 3.4286, 3.5714, 3.7143,
                    3.8571, 4.0000, 4.1429], shape: [30], dtype: float32)
            """)
        #expect(Tensor<Float>((0...1000).map(Float.init)).description
                == "Tensor([   0.,    1.,    2.,  ...,  998.,  999., 1000.], shape: [1001], dtype: float32)")
        let wide = try Tensor<Float>(shape: [2, 1000], scalars: (0..<2000).map(Float.init))
        #expect(wide.description == """
            Tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 9.9700e+02, 9.9800e+02,
                     9.9900e+02],
                    [1.0000e+03, 1.0010e+03, 1.0020e+03,  ..., 1.9970e+03, 1.9980e+03,
                     1.9990e+03]], shape: [2, 1000], dtype: float32)
            """)
    }

    @Test func summarizedDescriptionsElideWholeBlocksLikePyTorch() throws {
        // str(torch.arange(1100.).reshape(11, 10, 10)) and str(torch.arange(2000.).reshape(1000, 2)).
        let summarized3D = "Tensor([[[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 7.0000e+00,\n          8.0000e+00, 9.0000e+00],\n         [1.0000e+01, 1.1000e+01, 1.2000e+01,  ..., 1.7000e+01,\n          1.8000e+01, 1.9000e+01],\n         [2.0000e+01, 2.1000e+01, 2.2000e+01,  ..., 2.7000e+01,\n          2.8000e+01, 2.9000e+01],\n         ...,\n         [7.0000e+01, 7.1000e+01, 7.2000e+01,  ..., 7.7000e+01,\n          7.8000e+01, 7.9000e+01],\n         [8.0000e+01, 8.1000e+01, 8.2000e+01,  ..., 8.7000e+01,\n          8.8000e+01, 8.9000e+01],\n         [9.0000e+01, 9.1000e+01, 9.2000e+01,  ..., 9.7000e+01,\n          9.8000e+01, 9.9000e+01]],\n\n        [[1.0000e+02, 1.0100e+02, 1.0200e+02,  ..., 1.0700e+02,\n          1.0800e+02, 1.0900e+02],\n         [1.1000e+02, 1.1100e+02, 1.1200e+02,  ..., 1.1700e+02,\n          1.1800e+02, 1.1900e+02],\n         [1.2000e+02, 1.2100e+02, 1.2200e+02,  ..., 1.2700e+02,\n          1.2800e+02, 1.2900e+02],\n         ...,\n         [1.7000e+02, 1.7100e+02, 1.7200e+02,  ..., 1.7700e+02,\n          1.7800e+02, 1.7900e+02],\n         [1.8000e+02, 1.8100e+02, 1.8200e+02,  ..., 1.8700e+02,\n          1.8800e+02, 1.8900e+02],\n         [1.9000e+02, 1.9100e+02, 1.9200e+02,  ..., 1.9700e+02,\n          1.9800e+02, 1.9900e+02]],\n\n        [[2.0000e+02, 2.0100e+02, 2.0200e+02,  ..., 2.0700e+02,\n          2.0800e+02, 2.0900e+02],\n         [2.1000e+02, 2.1100e+02, 2.1200e+02,  ..., 2.1700e+02,\n          2.1800e+02, 2.1900e+02],\n         [2.2000e+02, 2.2100e+02, 2.2200e+02,  ..., 2.2700e+02,\n          2.2800e+02, 2.2900e+02],\n         ...,\n         [2.7000e+02, 2.7100e+02, 2.7200e+02,  ..., 2.7700e+02,\n          2.7800e+02, 2.7900e+02],\n         [2.8000e+02, 2.8100e+02, 2.8200e+02,  ..., 2.8700e+02,\n          2.8800e+02, 2.8900e+02],\n         [2.9000e+02, 2.9100e+02, 2.9200e+02,  ..., 2.9700e+02,\n          2.9800e+02, 2.9900e+02]],\n\n        ...,\n\n        [[8.0000e+02, 8.0100e+02, 8.0200e+02,  ..., 8.0700e+02,\n          8.0800e+02, 8.0900e+02],\n         [8.1000e+02, 8.1100e+02, 8.1200e+02,  ..., 8.1700e+02,\n          8.1800e+02, 8.1900e+02],\n         [8.2000e+02, 8.2100e+02, 8.2200e+02,  ..., 8.2700e+02,\n          8.2800e+02, 8.2900e+02],\n         ...,\n         [8.7000e+02, 8.7100e+02, 8.7200e+02,  ..., 8.7700e+02,\n          8.7800e+02, 8.7900e+02],\n         [8.8000e+02, 8.8100e+02, 8.8200e+02,  ..., 8.8700e+02,\n          8.8800e+02, 8.8900e+02],\n         [8.9000e+02, 8.9100e+02, 8.9200e+02,  ..., 8.9700e+02,\n          8.9800e+02, 8.9900e+02]],\n\n        [[9.0000e+02, 9.0100e+02, 9.0200e+02,  ..., 9.0700e+02,\n          9.0800e+02, 9.0900e+02],\n         [9.1000e+02, 9.1100e+02, 9.1200e+02,  ..., 9.1700e+02,\n          9.1800e+02, 9.1900e+02],\n         [9.2000e+02, 9.2100e+02, 9.2200e+02,  ..., 9.2700e+02,\n          9.2800e+02, 9.2900e+02],\n         ...,\n         [9.7000e+02, 9.7100e+02, 9.7200e+02,  ..., 9.7700e+02,\n          9.7800e+02, 9.7900e+02],\n         [9.8000e+02, 9.8100e+02, 9.8200e+02,  ..., 9.8700e+02,\n          9.8800e+02, 9.8900e+02],\n         [9.9000e+02, 9.9100e+02, 9.9200e+02,  ..., 9.9700e+02,\n          9.9800e+02, 9.9900e+02]],\n\n        [[1.0000e+03, 1.0010e+03, 1.0020e+03,  ..., 1.0070e+03,\n          1.0080e+03, 1.0090e+03],\n         [1.0100e+03, 1.0110e+03, 1.0120e+03,  ..., 1.0170e+03,\n          1.0180e+03, 1.0190e+03],\n         [1.0200e+03, 1.0210e+03, 1.0220e+03,  ..., 1.0270e+03,\n          1.0280e+03, 1.0290e+03],\n         ...,\n         [1.0700e+03, 1.0710e+03, 1.0720e+03,  ..., 1.0770e+03,\n          1.0780e+03, 1.0790e+03],\n         [1.0800e+03, 1.0810e+03, 1.0820e+03,  ..., 1.0870e+03,\n          1.0880e+03, 1.0890e+03],\n         [1.0900e+03, 1.0910e+03, 1.0920e+03,  ..., 1.0970e+03,\n          1.0980e+03, 1.0990e+03]]], shape: [11, 10, 10], dtype: float32)"
        let tallMatrix = "Tensor([[0.0000e+00, 1.0000e+00],\n        [2.0000e+00, 3.0000e+00],\n        [4.0000e+00, 5.0000e+00],\n        ...,\n        [1.9940e+03, 1.9950e+03],\n        [1.9960e+03, 1.9970e+03],\n        [1.9980e+03, 1.9990e+03]], shape: [1000, 2], dtype: float32)"
        #expect(try Tensor<Float>(shape: [11, 10, 10], scalars: (0..<1100).map(Float.init)).description == summarized3D)
        #expect(try Tensor<Float>(shape: [1000, 2], scalars: (0..<2000).map(Float.init)).description == tallMatrix)
    }

    @Test func descriptionOfAnyRankNeedsNoDeepRecursion() {
        // Printing recursed once per dimension: 5,000 dimensions overflowed a thread's stack.
        let deep = Tensor<Float>(repeating: 2, shape: [Int](repeating: 1, count: 5000))
        let text = deep.description
        #expect(text.hasPrefix("Tensor(" + String(repeating: "[", count: 5000) + "2." + String(repeating: "]", count: 5000)))
    }

    @Test func descriptionOfChannelsLastShowsLogicalOrderAndReadsOnlyWhatItPrints() throws {
        let image = try Tensor<Float>(shape: [1, 2, 1, 2], scalars: [1, 2, 3, 4]).withMemoryFormat(.channelsLast)
        #expect(image.description == """
            Tensor([[[[1., 2.]],

                     [[3., 4.]]]], shape: [1, 2, 1, 2], dtype: float32, memoryFormat: channelsLast)
            """)
        var random = SeededGenerator(seed: 1)
        let big = Tensor<Float>.randomNormal(shape: [16, 8, 16, 16], using: &random).withMemoryFormat(.channelsLast)
        let text = big.description
        #expect(text.contains("...") && text.split(separator: "\n").count < 7 * 7 * 7 * 2 + 10)
    }
}
