import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// Every way a safetensors file can be malformed, each with its own typed error, and a seeded
/// mutation fuzzer that must see only thrown errors or valid loads.
@Suite struct SafeTensorsMalformedTests {
    typealias Problem = SafeTensorsProblem

    func expectProblem(_ problem: Problem, _ data: Data, sourceLocation: SourceLocation = #_sourceLocation) {
        assertThrows(.invalidSafeTensors(problem), sourceLocation: sourceLocation) { try SafeTensors(data: data) }
    }

    func entry(_ name: String = "a", dtype: String = "F32", shape: String = "[2]", offsets: String = "[0,8]") -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
    }

    let valid = SafeTensorsFixture.bytes("batchnorm_f32")

    @Test func aValidMinimalFileLoads() throws {
        #expect(try SafeTensors(data: SafeTensorsFixture.file("{}")) == SafeTensors(tensors: [:]))
        #expect(try SafeTensors(data: SafeTensorsFixture.file(" {\"__metadata__\":null}  ")).tensors.isEmpty)
        // Entries may be listed in any order; the ranges are checked in offset order.
        let file = try SafeTensors(data: SafeTensorsFixture.file("{\(entry("b", offsets: "[8,16]")),\(entry("a"))}", dataCount: 16))
        #expect(file.tensors["b"]?.elements == .float32([Float(bitPattern: 0x0B0A_0908), Float(bitPattern: 0x0F0E_0D0C)]))
        // Unknown members of an entry are ignored, as the reference does.
        #expect(try SafeTensors(data: SafeTensorsFixture.file("{\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8],\"x\":[1]}}",
                                                              dataCount: 8)).tensors["a"] == StateTensor(int64: 0x0706_0504_0302_0100))
    }

    @Test func truncatedFiles() {
        expectProblem(.missingHeaderLength(byteCount: 0), Data())
        expectProblem(.missingHeaderLength(byteCount: 7), valid.prefix(7))
        let headerLength = UInt64(valid.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        expectProblem(.headerPastEnd(headerLength: headerLength, byteCount: 20), valid.prefix(20))
        let dataCount = valid.count - 8 - Int(headerLength)
        expectProblem(.bufferSizeMismatch(expected: dataCount, actual: dataCount - 1), valid.dropLast())
        expectProblem(.bufferSizeMismatch(expected: dataCount, actual: 0), valid.prefix(8 + Int(headerLength)))
        expectProblem(.bufferSizeMismatch(expected: dataCount, actual: dataCount + 1), valid + [0])
    }

    @Test func hugeHeaderLengths() {
        expectProblem(.headerTooLarge(length: 100_000_001, limit: 100_000_000), SafeTensorsFixture.file("{}", length: 100_000_001))
        expectProblem(.headerTooLarge(length: .max, limit: 100_000_000), SafeTensorsFixture.file("{}", length: .max))
        expectProblem(.headerPastEnd(headerLength: 100_000_000, byteCount: 10), SafeTensorsFixture.file("{}", length: 100_000_000))
    }

    @Test func headersThatAreNotUTF8OrNotJSON() {
        var bytes = Array(SafeTensorsFixture.file("{\"\u{7F}\":1}"))
        bytes[10] = 0xFF
        expectProblem(.headerNotUTF8, Data(bytes))
        var cut = Array(SafeTensorsFixture.file("{} "))
        cut[cut.count - 1] = 0xC3  // a cut-off two-byte sequence in the padding
        expectProblem(.headerNotUTF8, Data(cut))
        expectProblem(.invalidJSON(reason: "unexpected end of the JSON text", offset: 5), SafeTensorsFixture.file("{\"a\":"))
        expectProblem(.invalidJSON(reason: "unexpected text after the JSON value", offset: 2), SafeTensorsFixture.file("{}\0\0"))
        expectProblem(.invalidJSON(reason: "unexpected end of the JSON text", offset: 0), SafeTensorsFixture.file(""))
        expectProblem(.invalidJSON(reason: "expected a string key", offset: 1), SafeTensorsFixture.file("{a:1}"))
        expectProblem(.invalidJSON(reason: "expected \",\" or \"}\" in an object", offset: 9), SafeTensorsFixture.file("{\"a\":[1] \"b\":2}"))
        expectProblem(.invalidJSON(reason: "control character in a string", offset: 2), SafeTensorsFixture.file("{\"\n\":1}"))
        expectProblem(.invalidJSON(reason: "lone leading surrogate in a \\u escape", offset: 8), SafeTensorsFixture.file("{\"\\ud800\":1}"))
        expectProblem(.invalidJSON(reason: "expected a digit", offset: 6), SafeTensorsFixture.file("{\"a\":-}"))
        expectProblem(.invalidJSON(reason: "expected a digit after the decimal point", offset: 7), SafeTensorsFixture.file("{\"a\":1.}"))
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        expectProblem(.invalidJSON(reason: "nesting deeper than 128 levels", offset: 128), SafeTensorsFixture.file(deep))
    }

    @Test func headersThatAreNotObjectsOrRepeatKeys() {
        expectProblem(.headerNotObject(found: "an array"), SafeTensorsFixture.file("[]"))
        expectProblem(.headerNotObject(found: "a string"), SafeTensorsFixture.file("\"{}\""))
        expectProblem(.headerNotObject(found: "null"), SafeTensorsFixture.file("null"))
        expectProblem(.duplicateKey("a"), SafeTensorsFixture.file("{\(entry()),\(entry())}", dataCount: 8))
        expectProblem(.duplicateKey("dtype"),
                      SafeTensorsFixture.file("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", dataCount: 8))
        // An escaped spelling of the same key is the same key.
        expectProblem(.duplicateKey("a"), SafeTensorsFixture.file("{\(entry()),\(entry("\\u0061"))}", dataCount: 8))
    }

    @Test func malformedEntries() {
        func invalid(_ key: String, _ expected: String, _ actual: String, _ header: String) {
            expectProblem(.invalidEntry(key: key, expected: expected, actual: actual), SafeTensorsFixture.file(header, dataCount: 8))
        }
        let shapeRule = "an object whose \"shape\" is an array of non-negative integers"
        let offsetsRule = "an object whose \"data_offsets\" are two non-negative integers"
        invalid("a", "an object with \"dtype\", \"shape\" and \"data_offsets\"", "[1]", "{\"a\":[1]}")
        invalid("a", "an object with a string \"dtype\"", "{\"data_offsets\":[0,8],\"shape\":[2]}", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}")
        invalid("a", "an object with a string \"dtype\"", "{\"data_offsets\":[0,8],\"dtype\":32,\"shape\":[2]}",
                "{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}")
        for shape in ["[-2]", "[2.0]", "[\"2\"]", "[2e0]", "2", "[18446744073709551616]", "null"] {
            invalid("a", shapeRule, "{\"data_offsets\":[0,8],\"dtype\":\"F32\",\"shape\":\(shape)}", "{\(entry(shape: shape))}")
        }
        for offsets in ["[0,8,8]", "[8]", "[-1,8]", "[0,8.5]", "{}"] {
            invalid("a", offsetsRule, "{\"data_offsets\":\(offsets),\"dtype\":\"F32\",\"shape\":[2]}", "{\(entry(offsets: offsets))}")
        }
        invalid("__metadata__", "an object of strings", "{\"n\":1}", "{\"__metadata__\":{\"n\":1}}")
        invalid("__metadata__", "an object of strings", "[]", "{\"__metadata__\":[]}")
    }

    @Test func unsupportedDTypesAreNamed() {
        for dtype in ["U8", "I32", "BOOL", "F8_E4M3", "f32", ""] {
            expectProblem(.unsupportedDType(key: "a", dtype: dtype), SafeTensorsFixture.file("{\(entry(dtype: dtype))}", dataCount: 8))
        }
        #expect(NormError.invalidSafeTensors(.unsupportedDType(key: "a", dtype: "U8")).description
                == "Invalid safetensors data: \"a\" has dtype \"U8\"; NormKit reads F32, F64, F16, BF16, I64")
    }

    @Test func shapesWhoseSizeOverflows() {
        expectProblem(.sizeOverflow(key: "a", shape: [1 << 32, 1 << 32]), SafeTensorsFixture.file("{\(entry(shape: "[4294967296,4294967296]"))}", dataCount: 8))
        // The element count fits in Int, its byte count does not.
        expectProblem(.sizeOverflow(key: "a", shape: [1 << 62]), SafeTensorsFixture.file("{\(entry(shape: "[4611686018427387904]"))}", dataCount: 8))
        expectProblem(.sizeOverflow(key: "a", shape: [Int.max, 2]), SafeTensorsFixture.file("{\(entry(shape: "[9223372036854775807,2]"))}", dataCount: 8))
        // The product is taken in order, each step checked, as the format's reference reader
        // does: a zero after an overflow does not save the shape.
        expectProblem(.sizeOverflow(key: "a", shape: [1 << 32, 1 << 32, 0]),
                      SafeTensorsFixture.file("{\(entry(shape: "[4294967296,4294967296,0]", offsets: "[0,0]"))}", dataCount: 0))
    }

    @Test func rangesMustTileTheBuffer() {
        func ranges(_ a: String, _ b: String, dataCount: Int = 16) -> Data {
            SafeTensorsFixture.file("{\(entry("a", offsets: a)),\(entry("b", offsets: b))}", dataCount: dataCount)
        }
        expectProblem(.rangeNotContiguous(key: "b", expectedBegin: 8, dataOffsets: [4, 12]), ranges("[0,8]", "[4,12]"))    // overlap
        expectProblem(.rangeNotContiguous(key: "b", expectedBegin: 8, dataOffsets: [12, 20]), ranges("[0,8]", "[12,20]"))  // gap
        expectProblem(.rangeNotContiguous(key: "a", expectedBegin: 0, dataOffsets: [4, 12]), ranges("[4,12]", "[12,20]"))  // not at 0
        expectProblem(.rangeNotContiguous(key: "b", expectedBegin: 8, dataOffsets: [8, 0]), ranges("[0,8]", "[8,0]"))      // end < begin
        expectProblem(.rangeNotContiguous(key: "b", expectedBegin: 8, dataOffsets: [0, 8]), ranges("[0,8]", "[0,8]"))      // the same range twice
        // A header that lies about sizes: the range does not hold product(shape) · 4 bytes.
        expectProblem(.byteCountMismatch(key: "a", expected: 8, actual: 4),
                      SafeTensorsFixture.file("{\(entry(offsets: "[0,4]"))}", dataCount: 4))
        expectProblem(.byteCountMismatch(key: "a", expected: 12, actual: 8),
                      SafeTensorsFixture.file("{\(entry(shape: "[3]"))}", dataCount: 8))
        // Ranges past the end of the file.
        expectProblem(.bufferSizeMismatch(expected: 16, actual: 10), ranges("[0,8]", "[8,16]", dataCount: 10))
        expectProblem(.byteCountMismatch(key: "a", expected: 8, actual: Int.max),
                      SafeTensorsFixture.file("{\(entry(offsets: "[0,9223372036854775807]"))}", dataCount: 8))
    }

    /// Seeded mutations of valid files: byte flips, truncations, insertions, edits of the header
    /// length and of header tokens. Each must load or throw ``NormError/invalidSafeTensors(_:)``;
    /// a load must give consistent tensors, and loading them into a model must throw only
    /// `NormError`s or succeed.
    @Test func seededMutationsOnlyThrowTypedErrors() throws {
        let seeds = [valid, SafeTensorsFixture.bytes("batchnorm_f16"),
                     try SafeTensors(tensors: ["x": StateTensor(shape: [2, 1], elements: .bfloat16(bits: [1, 2])),
                                               "y": StateTensor(shape: [], elements: .float64([1]))], metadata: ["k": "v"]).serialized()]
        let tokens = ["-1", "1e99", "0", "18446744073709551615", "9223372036854775807", "\"", "{", "}", "[", "]", ",", ":",
                      "null", "\"F16\"", "\"I64\"", "\"BF16\"", "\\u0000", "\\ud800", "\u{FFFD}", "[]", "{}", "4"]
        var random = SeededRandom(seed: 20261127)
        var outcomes = (loaded: 0, refused: 0)
        for iteration in 0..<10_000 {
            var bytes = Array(seeds[iteration % seeds.count])
            for _ in 0...Int.random(in: 0...2, using: &random) {
                mutate(&bytes, tokens: tokens, using: &random)
            }
            do {
                let file = try SafeTensors(data: Data(bytes))
                outcomes.loaded += 1
                for (name, tensor) in file.tensors {
                    #expect(tensor.count == Tensor<Double>.checkedElementCount(tensor.shape), "iteration \(iteration): \(name)")
                }
                let bn = BatchNorm1d<Float>(numFeatures: 4)
                do { try bn.loadStateDict(file.tensors, strict: false) } catch is NormError {}
            } catch NormError.invalidSafeTensors {
                outcomes.refused += 1
            } catch {
                Issue.record("iteration \(iteration): unexpected error \(error)")
            }
        }
        #expect(outcomes.loaded > 100 && outcomes.refused > 5000, "\(outcomes)")
    }

    private func mutate(_ bytes: inout [UInt8], tokens: [String], using random: inout SeededRandom) {
        let headerEnd = min(bytes.count, 8 + Int(bytes.count >= 8 ? bytes[0] : 0) + Int(bytes.count >= 8 ? bytes[1] : 0) << 8)
        switch Int.random(in: 0..<7, using: &random) {
        case 0 where !bytes.isEmpty:  // flip a byte anywhere
            bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
        case 1:  // truncate
            bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
        case 2:  // insert or delete one byte
            let index = Int.random(in: 0...bytes.count, using: &random)
            if index < bytes.count, Bool.random(using: &random) { bytes.remove(at: index) } else { bytes.insert(.random(in: 0...255, using: &random), at: index) }
        case 3 where bytes.count >= 8:  // change the header length
            var length = bytes.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            length = [length &+ 1, length &- 1, length &+ 8, 0, .max, length << 20][Int.random(in: 0..<6, using: &random)]
            bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: length.littleEndian, Array.init))
        case 4 where headerEnd > 9:  // change a digit in the header
            let digits = (8..<headerEnd).filter { (48...57).contains(bytes[$0]) }
            if let index = digits.randomElement(using: &random) { bytes[index] = UInt8.random(in: 48...57, using: &random) }
        case 5 where headerEnd > 9:  // replace a header byte by a JSON token, keeping the header length
            let index = Int.random(in: 8..<headerEnd, using: &random)
            let token = Array(tokens.randomElement(using: &random)!.utf8)
            let end = min(headerEnd, index + token.count)
            bytes.replaceSubrange(index..<end, with: token.prefix(end - index))
        default:  // append bytes
            bytes += (0..<Int.random(in: 1...9, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        }
    }
}
