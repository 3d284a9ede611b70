import Foundation

extension Tensor: CustomStringConvertible {
    /// The values as PyTorch prints a tensor, nested by dimension, then the shape and dtype:
    ///
    /// ```
    /// Tensor([[ 0.3367,  0.1288,  0.2345],
    ///         [ 0.2303, -1.1229, -0.1863]], shape: [2, 3], dtype: float32)
    /// ```
    ///
    /// As in PyTorch, one format serves every element (`1.`, `0.1288` with four decimals, or
    /// `1.0000e-05` when the magnitudes span more than 1000× or leave [1e-4, 1e8)), rows wrap at
    /// 80 characters, and a tensor of more than 1000 elements shows only the first and last three
    /// entries of each dimension, with `...` between. Only the shown elements are read.
    public var description: String {
        let prefix = "Tensor("
        var suffix = "shape: \(shape), dtype: \(Scalar.dtypeName)"
        if memoryFormat == .channelsLast { suffix += ", memoryFormat: channelsLast" }
        let printer = TensorPrinter(shape: shape, summarize: count > TensorPrinter.threshold) { Double(self.storage[self.offset(of: $0)]) }
        return prefix + printer.render(indent: prefix.count) + ", " + suffix + ")"
    }
}

/// PyTorch's `_tensor_str`, for the parts NormKit needs: the shared element format, summarizing
/// and line wrapping.
struct TensorPrinter {
    /// Elements beyond which a tensor is summarized (PyTorch's `threshold`).
    static let threshold = 1000
    /// Entries kept at each end of a summarized dimension (PyTorch's `edgeitems`).
    static let edgeItems = 3
    static let lineWidth = 80

    let shape: [Int]
    let summarize: Bool
    let element: ([Int]) -> Double
    private var format: ElementFormat = .fixed(decimals: 4)
    private var width = 1

    init(shape: [Int], summarize: Bool, element: @escaping ([Int]) -> Double) {
        self.shape = shape
        self.summarize = summarize
        self.element = element
        var shown: [Double] = []
        forEachShown { shown.append(element($0)) }
        format = ElementFormat(choosingFor: shown)
        width = shown.map { format.string($0).count }.max() ?? 1
    }

    /// The indices shown along a dimension of `size`: all, or the first and last `edgeItems`
    /// with `nil` for the elided middle.
    func shownIndices(_ size: Int) -> [Int?] {
        guard summarize, size > 2 * Self.edgeItems else { return Array(0..<size) }
        return Array(0..<Self.edgeItems) + [nil] + Array((size - Self.edgeItems)..<size)
    }

    private func forEachShown(_ body: ([Int]) -> Void) {
        func visit(_ prefix: [Int]) {
            guard prefix.count < shape.count else { return body(prefix) }
            for index in shownIndices(shape[prefix.count]) { if let index { visit(prefix + [index]) } }
        }
        if !shape.contains(0) { visit([]) }
    }

    func render(indent: Int) -> String {
        guard !shape.isEmpty else { return format.string(element([])) }
        guard !shape.contains(0) else { return "[]" }
        return render(prefix: [], indent: indent)
    }

    private func render(prefix: [Int], indent: Int) -> String {
        let dimension = prefix.count, size = shape[dimension]
        if dimension == shape.count - 1 {
            let items = shownIndices(size).map { index in
                index.map { pad(format.string(element(prefix + [$0]))) } ?? " ..."
            }
            let perLine = max(1, (Self.lineWidth - indent) / (width + 2))
            let lines = stride(from: 0, to: items.count, by: perLine).map {
                items[$0..<min($0 + perLine, items.count)].joined(separator: ", ")
            }
            return "[" + lines.joined(separator: ",\n" + String(repeating: " ", count: indent + 1)) + "]"
        }
        let separator = "," + String(repeating: "\n", count: shape.count - dimension - 1)
            + String(repeating: " ", count: indent + 1)
        let blocks = shownIndices(size).map { index in
            index.map { render(prefix: prefix + [$0], indent: indent + 1) } ?? "..."
        }
        return "[" + blocks.joined(separator: separator) + "]"
    }

    private func pad(_ text: String) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }

    /// One format for every element, chosen as PyTorch's `_Formatter` chooses it.
    enum ElementFormat {
        /// Integral values: `3.`
        case integral
        case fixed(decimals: Int)
        case scientific(decimals: Int)

        init(choosingFor values: [Double]) {
            let finite = values.filter(\.isFinite)
            let magnitudes = finite.map(abs).filter { $0 != 0 }
            let largest = magnitudes.max() ?? 0, smallest = magnitudes.min() ?? 0
            if finite.allSatisfy({ $0.rounded() == $0 }) {
                self = magnitudes.isEmpty || (largest / smallest <= 1000 && largest <= 1e8) ? .integral : .scientific(decimals: 4)
            } else if magnitudes.isEmpty || (largest / smallest <= 1000 && largest <= 1e8 && smallest >= 1e-4) {
                self = .fixed(decimals: 4)
            } else {
                self = .scientific(decimals: 4)
            }
        }

        func string(_ value: Double) -> String {
            if value.isNaN { return "nan" }
            if value.isInfinite { return value < 0 ? "-inf" : "inf" }
            switch self {
            case .integral: return String(format: "%.0f.", value)
            case let .fixed(decimals): return String(format: "%.\(decimals)f", value)
            case let .scientific(decimals): return String(format: "%.\(decimals)e", value)
            }
        }
    }
}
