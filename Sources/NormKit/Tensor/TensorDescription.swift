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

    /// Visits the printed items in order, without recursion (an odometer over the shown entries
    /// of each dimension), so that a tensor of any rank prints on any thread's stack. An item is
    /// an element (`index` is its multi-index, `dimension` the last one) or an elided block
    /// (`index` is `nil`, at `dimension`); `carry` is the dimension whose entry advanced since the
    /// previous item (`nil` for the first).
    private func walk(_ body: (_ index: [Int]?, _ dimension: Int, _ carry: Int?) -> Void) {
        let rank = shape.count
        guard rank > 0, !shape.contains(0) else { return }
        let lists = shape.map(shownIndices)
        var position = [Int](repeating: 0, count: rank)
        var carry: Int? = nil
        while true {
            // Only the entry that just advanced can be elided: the ones after it restart at 0.
            let dimension: Int
            if let c = carry, lists[c][position[c]] == nil {
                dimension = c
                body(nil, dimension, carry)
            } else {
                dimension = rank - 1
                body((0..<rank).map { lists[$0][position[$0]]! }, dimension, carry)
            }
            var d = dimension
            while d >= 0 {
                position[d] += 1
                if position[d] < lists[d].count { break }
                position[d] = 0
                d -= 1
            }
            guard d >= 0 else { return }
            carry = d
        }
    }

    private func forEachShown(_ body: ([Int]) -> Void) {
        if shape.isEmpty { return body([]) }
        walk { index, _, _ in if let index { body(index) } }
    }

    /// The nested brackets, as PyTorch's `_tensor_str_with_formatter` and `_vector_str` lay them
    /// out: entries of dimension d are separated by "," plus (rank − 1 − d) newlines and
    /// `indent + d + 1` spaces; a row wraps after as many items as fit in 80 columns.
    func render(indent: Int) -> String {
        guard !shape.isEmpty else { return format.string(element([])) }
        guard !shape.contains(0) else { return "[]" }
        let rank = shape.count
        let perLine = max(1, (Self.lineWidth - (indent + rank - 1)) / (width + 2))
        var text = String(repeating: "[", count: rank)
        var previous = rank - 1, itemsInRow = 0
        walk { index, dimension, carry in
            if let carry {
                text += String(repeating: "]", count: previous - carry)
                if carry == rank - 1 {
                    text += itemsInRow % perLine == 0 ? ",\n" + String(repeating: " ", count: indent + rank) : ", "
                } else {
                    text += "," + String(repeating: "\n", count: rank - 1 - carry) + String(repeating: " ", count: indent + carry + 1)
                    itemsInRow = 0
                }
                text += String(repeating: "[", count: dimension - carry)
            }
            if let index {
                text += pad(format.string(element(index)))
            } else {
                text += dimension == rank - 1 ? " ..." : "..."
            }
            if dimension == rank - 1 { itemsInRow += 1 }
            previous = dimension
        }
        return text + String(repeating: "]", count: previous + 1)
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
