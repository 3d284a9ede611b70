import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// Reading PyTorch's safetensors files, writing files PyTorch reads, and the dtype conversions.
@Suite struct SafeTensorsTests {
    @Test(arguments: SafeTensorsFixture.all)
    func torchsFilesReadAndWriteBackByteForByte(_ name: String) throws {
        let bytes = SafeTensorsFixture.bytes(name)
        let file = try SafeTensors(data: bytes)
        #expect(!file.tensors.isEmpty && file.metadata.isEmpty)
        #expect(try file.serialized() == bytes, "NormKit writes the bytes safetensors.torch.save_file wrote")
    }

    @Test func torchsCheckpointHasPyTorchsNamesAndDTypes() throws {
        let tensors = SafeTensorsFixture.tensors("checkpoint_model")
        #expect(tensors["1.0.0.num_batches_tracked"] == StateTensor(int64: 3))
        #expect(tensors["0.0.running_mean"]?.dtype == .float32 && tensors["0.0.running_mean"]?.shape == [3])
        #expect(tensors["1.1.weight"]?.shape == [3, 4, 4])
        #expect(tensors.count == 19)
    }

    @Test func narrowingRoundsExactlyAsTorch() throws {
        let tensors = SafeTensorsFixture.tensors("dtype_rounding")
        guard case let .float32(values) = tensors["f32"]!.elements,
              case let .float16(half) = tensors["f16"]!.elements,
              case let .bfloat16(brain) = tensors["bf16"]!.elements,
              case let .float64(double) = tensors["f64"]!.elements else {
            Issue.record("unexpected dtypes \(tensors.mapValues(\.dtype))")
            return
        }
        #expect(values.count > 1000)
        for (index, value) in values.enumerated() {
            #expect(HalfPrecisionBits.float16(from: value) == half[index], "float16 of \(value) (bits \(value.bitPattern))")
            #expect(HalfPrecisionBits.bfloat16(from: value) == brain[index], "bfloat16 of \(value) (bits \(value.bitPattern))")
            #expect(double[index] == Double(value) || (double[index].isNaN && value.isNaN))
        }
        #expect(tensors["i64"]!.elements == .int64((-3..<3).map { $0 * ((1 << 40) + 1) }))
    }

    @Test func widenedHalvesNarrowBackToTheSameBits() {
        for bits in 0...UInt16.max {
            let float = HalfPrecisionBits.float(fromFloat16: bits)
            let again = HalfPrecisionBits.float16(from: float)
            if float.isNaN {
                #expect(again & 0x7E00 == 0x7E00 && again & 0x8000 == bits & 0x8000, "NaN \(bits) stays a NaN of its sign")
            } else {
                #expect(again == bits, "float16 bits \(bits) → \(float) → \(again)")
            }
            #if !(os(macOS) && arch(x86_64))
            let reference = Float(Float16(bitPattern: bits))
            #expect(float.bitPattern == reference.bitPattern || (float.isNaN && reference.isNaN), "float16 bits \(bits)")
            #endif
            let brain = HalfPrecisionBits.float(fromBFloat16: bits)
            #expect(HalfPrecisionBits.bfloat16(from: brain) == bits || (brain.isNaN && HalfPrecisionBits.bfloat16(from: brain) & 0x7FC0 == 0x7FC0))
        }
    }

    @Test(arguments: ["batchnorm_f16", "batchnorm_bf16", "batchnorm_f64"])
    func halfAndDoubleCheckpointsLoadIntoAFloatLayer(_ name: String) throws {
        let reference = BatchNorm1d<Float>(numFeatures: 4)
        try reference.load(from: SafeTensorsFixture.url("batchnorm_f32"))
        let layer = BatchNorm1d<Float>(numFeatures: 4)
        #expect(try layer.load(from: SafeTensorsFixture.url(name)).isEmpty)
        #expect(layer.numBatchesTracked == 7)
        let file = SafeTensorsFixture.tensors(name)
        for (key, value) in layer.stateDict() where key != "num_batches_tracked" {
            // The exact widening of the stored bits...
            #expect(value == file[key]!.tensor(as: Float.self), "\(name) \(key)")
            // ...which is the float32 original within the format's precision.
            let precision = ["batchnorm_f16": 1e-3, "batchnorm_bf16": 8e-3, "batchnorm_f64": 0][name]!
            assertClose(value, reference.stateDict()[key], Tolerance(absolute: 1e-7, relative: precision), "\(name) \(key)")
        }
        #expect(layer.weight![2] == (name == "batchnorm_bf16" ? 65536 : 65504), "float16's largest finite value")
    }

    @Test func everyDTypeRoundTripsThroughBytes() throws {
        let tensors: StateDict = [
            "f32": try StateTensor(shape: [2, 2], elements: .float32([1, -.infinity, .leastNonzeroMagnitude, -0.0])),
            "f64": try StateTensor(shape: [3], elements: .float64([.pi, -1e300, .greatestFiniteMagnitude])),
            "f16": try StateTensor(shape: [3], elements: .float16(bits: [0x0001, 0x7BFF, 0xFC00])),
            "bf16": try StateTensor(shape: [1, 2], elements: .bfloat16(bits: [0x3F80, 0x8001])),
            "i64": try StateTensor(shape: [2], elements: .int64([.min, .max])),
            "empty": try StateTensor(shape: [0, 5], elements: .float32([])),
            "scalar": StateTensor(int64: 42),
            "naïve \"name\"\n": StateTensor(int64: 1),
        ]
        let file = SafeTensors(tensors: tensors, metadata: ["format": "pt", "ünïcode": "✓"])
        let bytes = try file.serialized()
        let headerLength = bytes.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect(headerLength % 8 == 0, "the header is padded to 8 bytes")
        #expect(try SafeTensors(data: bytes) == file)
    }

    @Test func modulesSaveAndLoadFiles() throws {
        var random = SeededRandom(seed: 5)
        let model = Sequential<Float>(BatchNorm2d(numFeatures: 2), Sequential<Float>(GroupNorm(numGroups: 1, numChannels: 2)))
        _ = try model(random.tensor([3, 2, 2, 2]))
        try model.setParameter(named: "1.0.weight", to: random.tensor([2]))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("normkit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("model.safetensors")
        try model.save(to: url, metadata: ["step": "1"])
        #expect(try SafeTensors(contentsOf: url).metadata == ["step": "1"])

        let copy = Sequential<Float>(BatchNorm2d(numFeatures: 2), Sequential<Float>(GroupNorm(numGroups: 1, numChannels: 2)))
        #expect(try copy.load(from: url).isEmpty)
        #expect(copy.typedStateDict() == model.typedStateDict())

        let bigger = Sequential<Float>(BatchNorm2d(numFeatures: 2), LayerNorm(normalizedShape: [2]), BatchNorm1d(numFeatures: 1))
        let keys = try bigger.load(from: url, strict: false)
        #expect(keys == IncompatibleKeys(missingKeys: ["1.bias", "1.weight", "2.bias", "2.running_mean", "2.running_var", "2.weight"],
                                         unexpectedKeys: ["1.0.bias", "1.0.weight"]))
        expectThrowsLeavingUnchanged(bigger, .stateDictKeyMismatch(missing: keys.missingKeys, unexpected: keys.unexpectedKeys)) {
            try bigger.load(from: url)
        }
        assertThrows(.invalidSafeTensors(.reservedName)) {
            try SafeTensors(tensors: ["__metadata__": StateTensor(int64: 0)]).serialized()
        }
    }
}
