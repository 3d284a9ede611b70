import Foundation
import NormKit

/// One case of `normkit bench`: what to run (a layer on an input shape, or a collective), which
/// phase to time, and in what memory layout and dtype.
///
/// Written and read as a case string of comma-separated `key=value` pairs:
///
///     layer=batchnorm2d,shape=32x64x56x56,mode=backward,layout=nhwc
///     layer=groupnorm,shape=16x256x32x32,groups=32,mode=forward,layout=nchw,dtype=float64
///     layer=syncbatchnorm2d,shape=8x16x4x4,mode=step,ranks=2
///     layer=collective,shape=8,ranks=2
///     layer=memoryformat,shape=32x64x56x56,layout=nhwc
///
/// Keys and defaults:
/// - `layer` (required): batchnorm1d/2d/3d, instancenorm1d/2d/3d (affine), layernorm and rmsnorm
///   (over the last dimension), groupnorm, syncbatchnorm2d, collective; or memoryformat, which
///   times `Tensor.withMemoryFormat(_:)` on a 4-D or 5-D tensor into the format `layout` names,
///   from the other one.
/// - `shape` (required except for collective, where it is the number of Doubles, default 8):
///   dimensions joined by `x`, outermost first, in PyTorch's logical order (N, C, spatial…).
/// - `mode`, default forward: `forward` (training-mode forward), `eval` (eval-mode forward) or
///   `backward` (the backward pass of a training step; its forward is not timed). SyncBatchNorm
///   also has `step`: a training forward and its backward, both timed. A collective has no mode,
///   and memoryformat only `forward`.
/// - `layout`, default nchw: `nhwc` stores the input channels-last (NDHWC for 5-D); it applies
///   to batchnorm2d/3d, instancenorm2d/3d and groupnorm on 4-D or 5-D input. For memoryformat it
///   is the format converted to.
/// - `groups`, groupnorm only, default 32; it must divide C.
/// - `dtype`, default float32: `float32`, `float64`, or `float16` / `bfloat16` (a Float layer
///   on half-precision input, PyTorch's mixed path). A collective sums Doubles.
/// - `ranks`, syncbatchnorm2d and collective only, default 2: the thread ranks of the
///   `LocalProcessGroup`.
///
/// ``canonical`` spells every key that applies, in a fixed order, omitting `dtype=float32`.
struct BenchCase: Equatable, Sendable {
    enum Layer: String, CaseIterable, Sendable {
        case batchnorm1d, batchnorm2d, batchnorm3d
        case instancenorm1d, instancenorm2d, instancenorm3d
        case layernorm, groupnorm, rmsnorm
        case syncbatchnorm2d, collective
        /// `Tensor.withMemoryFormat(_:)`, the conversion between row-major and channels-last.
        case memoryformat

        /// The input ranks the layer accepts (batched inputs only).
        var acceptedRanks: ClosedRange<Int> {
            switch self {
            case .batchnorm1d: 2...3
            case .batchnorm2d, .instancenorm2d, .syncbatchnorm2d: 4...4
            case .batchnorm3d, .instancenorm3d: 5...5
            case .memoryformat: 4...5
            case .instancenorm1d: 3...3
            case .groupnorm: 2...Int.max
            case .layernorm, .rmsnorm: 1...Int.max
            case .collective: 1...1
            }
        }

        /// Layers that can read channels-last input (on 4-D and 5-D shapes).
        var acceptsChannelsLast: Bool {
            [.batchnorm2d, .batchnorm3d, .instancenorm2d, .instancenorm3d, .groupnorm, .memoryformat].contains(self)
        }

        /// The distributed cases, which run on thread ranks of a `LocalProcessGroup`.
        var isDistributed: Bool { self == .syncbatchnorm2d || self == .collective }
    }

    enum Mode: String, CaseIterable, Sendable {
        case forward, eval, backward, step

        /// Whether the timed phase runs the backward pass (and needs an upstream gradient).
        var timesBackward: Bool { self == .backward || self == .step }
    }

    enum Layout: String, CaseIterable, Sendable {
        case nchw, nhwc
    }

    /// float16 and bfloat16 run a Float layer on half-precision input (PyTorch's mixed path).
    enum DType: String, CaseIterable, Sendable {
        case float32, float64, float16, bfloat16

        var byteCount: Int {
            switch self {
            case .float32: 4
            case .float64: 8
            case .float16, .bfloat16: 2
            }
        }
    }

    var layer: Layer
    var shape: [Int]
    var mode: Mode
    var layout: Layout
    var dtype: DType
    /// GroupNorm's group count; `nil` for every other layer.
    var groups: Int?
    /// The thread ranks of a distributed case; `nil` for the others.
    var ranks: Int?

    /// The number of elements of the input (of the buffer, for a collective).
    var elementCount: Int { shape.reduce(1, *) }

    /// The least memory traffic the timed phase can have: read x and write y (forward, eval), or
    /// read x and dy and write dx (backward); parameters are negligible. `nil` for the distributed
    /// cases, which are latency-bound.
    var floorBytes: Int? {
        guard !layer.isDistributed else { return nil }
        return (mode == .backward ? 3 : 2) * elementCount * dtype.byteCount
    }

    /// How many times the least work for the timed phase reads its inputs: twice for
    /// BatchNorm's training forward and backward over channels-last or `(N, C)` input, whose
    /// per-channel sums need every row before the first output is known; once otherwise. A
    /// strip of columns over every row may fit L2 and be read once, but its rows are strided
    /// lines the hardware does not fetch ahead: on BatchNorm1d 4096×1024 such strips took
    /// 1.4–4.3 times as long as two sweeps (`scripts/column_strips.c`, BENCHMARKS.md).
    /// Channels-last BatchNorm2d 32×64×56×56's narrowest strip, one line of 16 channels over
    /// its 100,352 rows, is 6.4 MB: more than L2.
    var inputSweeps: Int {
        guard [.batchnorm1d, .batchnorm2d, .batchnorm3d].contains(layer), mode == .forward || mode == .backward else { return 1 }
        let interleaved = layout == .nhwc && layer.acceptsChannelsLast || layer == .batchnorm1d && shape.count == 2
        return interleaved ? 2 : 1
    }

    /// The case string, every applicable key in a fixed order; parsing it gives this case back.
    var canonical: String {
        var pairs = ["layer=\(layer.rawValue)", "shape=\(Self.format(shape))"]
        if let groups { pairs.append("groups=\(groups)") }
        if layer != .collective {
            pairs.append("mode=\(mode.rawValue)")
            pairs.append("layout=\(layout.rawValue)")
            if dtype != .float32 { pairs.append("dtype=\(dtype.rawValue)") }
        }
        if let ranks { pairs.append("ranks=\(ranks)") }
        return pairs.joined(separator: ",")
    }

    /// A short name for tables and the progress line, e.g. `groupnorm(32) 16x256x32x32 backward nhwc`.
    var label: String {
        let dtypeSuffix = dtype == .float32 ? "" : " \(dtype.rawValue)"
        switch layer {
        case .collective:
            return "allReducedSum \(elementCount) doubles, \(ranks ?? 0) thread ranks"
        case .syncbatchnorm2d:
            return "syncbatchnorm2d \(Self.format(shape)) \(mode.rawValue), \(ranks ?? 0) thread ranks"
        case .memoryformat:
            return "withMemoryFormat \(Self.format(shape)) \(layout == .nhwc ? "nchw to nhwc" : "nhwc to nchw")\(dtypeSuffix)"
        default:
            let name = groups.map { "\(layer.rawValue)(\($0))" } ?? layer.rawValue
            let layoutSuffix = hasLayoutChoice ? " \(layout.rawValue)" : ""
            return "\(name) \(Self.format(shape)) \(mode.rawValue)\(layoutSuffix)\(dtypeSuffix)"
        }
    }

    /// Whether `layout=nhwc` applies: a layer that reads channels-last, on 4-D or 5-D input.
    var hasLayoutChoice: Bool { layer.acceptsChannelsLast && (4...5).contains(shape.count) }

    static func format(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "x") }
}

/// A case string that does not describe a case; the message says what is wrong and what is
/// accepted.
struct BenchCaseError: Error, CustomStringConvertible, Equatable {
    let caseString: String
    let problem: String

    var description: String { "bad case \"\(caseString)\": \(problem)" }
}

extension BenchCase {
    /// Parses a case string (see ``BenchCase``).
    /// - Throws: ``BenchCaseError`` naming the offending key or value.
    init(parsing text: String) throws(BenchCaseError) {
        func fail(_ problem: String) -> BenchCaseError { BenchCaseError(caseString: text, problem: problem) }
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ value: String?, default fallback: T) throws(BenchCaseError) -> T
        where T.RawValue == String {
            guard let value else { return fallback }
            guard let parsed = T(rawValue: value) else {
                throw fail("\(key)=\(value) is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return parsed
        }
        func positiveInteger(_ key: String, _ value: String) throws(BenchCaseError) -> Int {
            guard value.allSatisfy(\.isASCIIDigit), let number = Int(value), number > 0 else {
                throw fail("\(key)=\(value) is not a positive integer")
            }
            return number
        }

        var fields: [String: String] = [:]
        for pair in text.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw fail("\"\(pair)\" is not key=value")
            }
            guard Self.keys.contains(parts[0]) else {
                throw fail("unknown key \"\(parts[0])\"; keys are \(Self.keys.joined(separator: ", "))")
            }
            guard fields.updateValue(parts[1], forKey: parts[0]) == nil else { throw fail("\(parts[0]) is given twice") }
        }

        guard let layerName = fields["layer"] else { throw fail("layer= is required") }
        let layer: Layer = try choice("layer", layerName, default: .batchnorm2d)

        let shapeText = fields["shape"] ?? (layer == .collective ? "8" : nil)
        guard let shapeText else { throw fail("shape= is required, e.g. shape=32x64x56x56") }
        var shape: [Int] = []
        for dimension in shapeText.split(separator: "x", omittingEmptySubsequences: false) {
            guard dimension.allSatisfy(\.isASCIIDigit), let size = Int(dimension), size > 0 else {
                throw fail("shape=\(shapeText): \"\(dimension)\" is not a positive integer")
            }
            shape.append(size)
        }
        guard layer.acceptedRanks.contains(shape.count) else {
            let ranks = layer.acceptedRanks
            let expected = ranks.upperBound == Int.max ? "at least \(ranks.lowerBound)"
                : ranks.count == 1 ? "\(ranks.lowerBound)" : "\(ranks.lowerBound) to \(ranks.upperBound)"
            throw fail("\(layer.rawValue) takes \(expected) dimensions, shape=\(shapeText) has \(shape.count)")
        }

        if layer == .collective {
            for key in ["mode", "layout", "dtype", "groups"] where fields[key] != nil {
                throw fail("\(key)= does not apply to a collective (it sums Doubles)")
            }
        }
        let mode: Mode = try choice("mode", fields["mode"], default: .forward)
        if layer == .memoryformat && mode != .forward {
            throw fail("mode=\(mode.rawValue) does not apply to memoryformat (a conversion has one phase)")
        }
        if mode == .step && layer != .syncbatchnorm2d { throw fail("mode=step applies only to syncbatchnorm2d") }
        if mode == .eval && layer == .syncbatchnorm2d {
            throw fail("mode=eval does not apply to syncbatchnorm2d (eval mode communicates nothing)")
        }

        let layout: Layout = try choice("layout", fields["layout"], default: .nchw)
        if layout == .nhwc && !(layer.acceptsChannelsLast && (4...5).contains(shape.count)) {
            throw fail("layout=nhwc applies to batchnorm2d/3d, instancenorm2d/3d, groupnorm and memoryformat on 4-D or 5-D input")
        }

        let dtype: DType = try choice("dtype", fields["dtype"], default: .float32)
        if layer == .syncbatchnorm2d && dtype.byteCount == 2 {
            throw fail("dtype=\(dtype.rawValue) does not apply to syncbatchnorm2d (float32 or float64)")
        }

        var groups: Int?
        if layer == .groupnorm {
            let count = try positiveInteger("groups", fields["groups"] ?? "32")
            guard shape[1] % count == 0 else { throw fail("groups=\(count) does not divide the \(shape[1]) channels") }
            groups = count
        } else if fields["groups"] != nil {
            throw fail("groups= applies only to groupnorm")
        }

        // A layer case holds x, y, dy and dx at once; refuse what the memory cannot hold instead
        // of aborting in an allocation.
        let tensorBytes = shape.reduce(Optional(dtype.byteCount)) { bytes, size in
            bytes.flatMap { let (next, overflow) = $0.multipliedReportingOverflow(by: size); return overflow ? nil : next }
        }
        let memory = ProcessInfo.processInfo.physicalMemory
        guard let tensorBytes, UInt64(tensorBytes) <= memory / 4 else {
            throw fail("shape=\(shapeText) needs four tensors of \(tensorBytes.map { "\($0) bytes" } ?? "more than Int.max bytes"); "
                       + "this machine has \(memory) bytes of memory")
        }

        var ranks: Int?
        if layer.isDistributed {
            let count = try positiveInteger("ranks", fields["ranks"] ?? "2")
            guard count <= LocalProcessGroup.maximumSize else {
                throw fail("ranks=\(count) is more than the \(LocalProcessGroup.maximumSize) ranks a LocalProcessGroup takes")
            }
            ranks = count
        } else if fields["ranks"] != nil {
            throw fail("ranks= applies only to syncbatchnorm2d and collective")
        }

        self.init(layer: layer, shape: shape, mode: layer == .collective ? .forward : mode, layout: layout,
                  dtype: layer == .collective ? .float64 : dtype, groups: groups, ranks: ranks)
    }

    /// The keys a case string may use.
    static let keys = ["layer", "shape", "mode", "layout", "groups", "dtype", "ranks"]

    /// Parses every case in `arguments`, each one case string or several joined by `;`.
    static func parseList(_ arguments: [String]) throws(BenchCaseError) -> [BenchCase] {
        var cases: [BenchCase] = []
        for argument in arguments {
            for text in argument.split(separator: ";") where !text.trimmingCharacters(in: .whitespaces).isEmpty {
                cases.append(try BenchCase(parsing: text.trimmingCharacters(in: .whitespaces)))
            }
        }
        return cases
    }
}

private extension Character {
    /// 0 to 9: the digits of a case string's numbers, which take no sign.
    var isASCIIDigit: Bool { isASCII && isWholeNumber }
}
