import Foundation

extension LabReport {
    /// The plot: test accuracy against the per-rank batch size (log scale), one line per
    /// normalization with ±1 standard deviation error bars, axes, grid lines, labels and a legend.
    /// A standalone SVG 1.1 document.
    public func svg() -> String {
        let rows = summary
        let width = 780.0, height = 500.0
        let left = 72.0, right = 200.0, top = 70.0, bottom = 64.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let batches = configuration.batchSizes.sorted()
        let series = configuration.normalizations.filter { n in rows.contains { $0.normalization == n } }

        // y range: from a round number below the lowest error bar to 100%, with 4 to 10 ticks.
        let lows = rows.map { max(0, ($0.accuracyMean - $0.accuracyStd) * 100) }.filter(\.isFinite)
        let lowest = min(lows.min() ?? 0, 99)
        let yMax = 100.0
        let step = [0.5, 1, 2, 5, 10, 20].first { (yMax - lowest) / $0 <= 8 } ?? 20
        let yMin = max(0, ((lowest - step / 4) / step).rounded(.down) * step)
        func y(_ percent: Double) -> Double { top + plotHeight * (1 - (percent - yMin) / (yMax - yMin)) }

        // x: log2 of the batch size, with half a step of margin on both sides.
        let logs = batches.map { log2(Double($0)) }
        let xLow = (logs.first ?? 0) - 0.5, xHigh = (logs.last ?? 1) + 0.5
        func x(_ batch: Int) -> Double { left + plotWidth * (log2(Double(batch)) - xLow) / max(xHigh - xLow, 1e-9) }
        let jitter = 4.0

        var svg: [String] = []
        svg.append("""
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
        viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif">
        <rect width="100%" height="100%" fill="#ffffff"/>
        """)
        let seedText = "\(configuration.seeds) seed\(configuration.seeds == 1 ? "" : "s")"
        let epochText = "\(configuration.epochs) epoch\(configuration.epochs == 1 ? "" : "s")"
        svg.append(text(left, 30, "Test accuracy vs. batch size per device", size: 19, weight: "bold", fill: "#222"))
        let globalText = ranks > 1 ? " (global batch \(ranks) × b)" : ""
        svg.append(text(left, 52, "\(dataSourceShort) · \(ranks) \(backend)\(globalText) · \(epochText) · mean ± std over \(seedText)",
                        size: 13, fill: "#555"))

        // Grid and y ticks.
        var tick = yMin
        while tick <= yMax + 1e-9 {
            let ty = y(tick)
            svg.append(line(left, ty, left + plotWidth, ty, stroke: "#e6e6e6", width: 1))
            let label = tick.rounded() == tick ? "\(Int(tick))" : fixed(tick, 1)
            svg.append(text(left - 10, ty + 4.5, label, size: 13, anchor: "end", fill: "#444"))
            tick += step
        }
        for batch in batches {
            let tx = x(batch)
            svg.append(line(tx, top, tx, top + plotHeight, stroke: "#f0f0f0", width: 1))
            svg.append(line(tx, top + plotHeight, tx, top + plotHeight + 5, stroke: "#444", width: 1))
            svg.append(text(tx, top + plotHeight + 21, "\(batch)", size: 13, anchor: "middle", fill: "#444"))
        }
        // Axes.
        svg.append(line(left, top + plotHeight, left + plotWidth, top + plotHeight, stroke: "#444", width: 1.2))
        svg.append(line(left, top, left, top + plotHeight, stroke: "#444", width: 1.2))
        svg.append(text(left + plotWidth / 2, height - 16, "images per device and step (per-rank batch size, log scale)",
                        size: 14, anchor: "middle", fill: "#222"))
        svg.append("<text x=\"20\" y=\"\(fmt(top + plotHeight / 2))\" font-size=\"14\" fill=\"#222\" text-anchor=\"middle\" "
                   + "transform=\"rotate(-90 20 \(fmt(top + plotHeight / 2)))\">test accuracy (%)</text>")

        // Series: error bars, line, markers.
        for (index, normalization) in series.enumerated() {
            let style = Self.style(normalization)
            let offset = (Double(index) - Double(series.count - 1) / 2) * jitter
            let points = batches.compactMap { batch -> (x: Double, row: LabSummaryRow)? in
                rows.first { $0.normalization == normalization && $0.perRankBatch == batch }.map { (x(batch) + offset, $0) }
            }
            svg.append("<g>")
            for point in points where point.row.accuracyStd > 0 {
                let high = y(min(yMax, (point.row.accuracyMean + point.row.accuracyStd) * 100))
                let low = y(max(yMin, (point.row.accuracyMean - point.row.accuracyStd) * 100))
                svg.append(line(point.x, high, point.x, low, stroke: style.color, width: 1.4, opacity: 0.8))
                svg.append(line(point.x - 4, high, point.x + 4, high, stroke: style.color, width: 1.4, opacity: 0.8))
                svg.append(line(point.x - 4, low, point.x + 4, low, stroke: style.color, width: 1.4, opacity: 0.8))
            }
            let path = points.map { "\(fmt($0.x)),\(fmt(y(max(yMin, $0.row.accuracyMean * 100))))" }.joined(separator: " ")
            svg.append("<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(style.color)\" stroke-width=\"2.4\" "
                       + "stroke-linejoin=\"round\"\(style.dashed ? " stroke-dasharray=\"7 4\"" : "")/>")
            for point in points {
                svg.append(marker(style.shape, point.x, y(max(yMin, point.row.accuracyMean * 100)), color: style.color))
            }
            svg.append("</g>")
        }

        // Legend.
        let legendX = left + plotWidth + 24
        svg.append(text(legendX, top + 6, "normalization", size: 13, weight: "bold", fill: "#222"))
        for (index, normalization) in series.enumerated() {
            let style = Self.style(normalization)
            let ly = top + 30 + Double(index) * 26
            svg.append("<line x1=\"\(fmt(legendX))\" y1=\"\(fmt(ly))\" x2=\"\(fmt(legendX + 30))\" y2=\"\(fmt(ly))\" "
                       + "stroke=\"\(style.color)\" stroke-width=\"2.4\"\(style.dashed ? " stroke-dasharray=\"7 4\"" : "")/>")
            svg.append(marker(style.shape, legendX + 15, ly, color: style.color))
            svg.append(text(legendX + 40, ly + 4.5, normalization.displayName, size: 13, fill: "#222"))
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    private var dataSourceShort: String {
        dataSource == "bundled UCI digits" ? "UCI handwritten digits (8×8)" : URL(fileURLWithPath: dataSource).lastPathComponent
    }

    enum MarkerShape { case circle, square, diamond, triangle }

    /// Colors from Okabe & Ito's color-blind-safe palette; SyncBatchNorm is BatchNorm's lighter,
    /// dashed sibling.
    static func style(_ normalization: Normalization) -> (color: String, shape: MarkerShape, dashed: Bool) {
        switch normalization {
        case .none: return ("#7a7a7a", .circle, false)
        case .batchNorm: return ("#0072B2", .square, false)
        case .syncBatchNorm: return ("#56B4E9", .square, true)
        case .groupNorm: return ("#D55E00", .circle, false)
        case .layerNorm: return ("#009E73", .diamond, false)
        case .instanceNorm: return ("#CC79A7", .triangle, false)
        }
    }

    private func marker(_ shape: MarkerShape, _ cx: Double, _ cy: Double, color: String) -> String {
        let stroke = "fill=\"\(color)\" stroke=\"#ffffff\" stroke-width=\"1.3\""
        switch shape {
        case .circle:
            return "<circle cx=\"\(fmt(cx))\" cy=\"\(fmt(cy))\" r=\"4.6\" \(stroke)/>"
        case .square:
            return "<rect x=\"\(fmt(cx - 4.3))\" y=\"\(fmt(cy - 4.3))\" width=\"8.6\" height=\"8.6\" \(stroke)/>"
        case .diamond:
            return "<polygon points=\"\(fmt(cx)),\(fmt(cy - 5.8)) \(fmt(cx + 5.8)),\(fmt(cy)) \(fmt(cx)),\(fmt(cy + 5.8)) "
                + "\(fmt(cx - 5.8)),\(fmt(cy))\" \(stroke)/>"
        case .triangle:
            return "<polygon points=\"\(fmt(cx)),\(fmt(cy - 5.6)) \(fmt(cx + 5.4)),\(fmt(cy + 4.2)) "
                + "\(fmt(cx - 5.4)),\(fmt(cy + 4.2))\" \(stroke)/>"
        }
    }

    private func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double,
                      opacity: Double = 1) -> String {
        "<line x1=\"\(fmt(x1))\" y1=\"\(fmt(y1))\" x2=\"\(fmt(x2))\" y2=\"\(fmt(y2))\" stroke=\"\(stroke)\" "
            + "stroke-width=\"\(fmt(width))\"\(opacity < 1 ? " stroke-opacity=\"\(fmt(opacity))\"" : "")/>"
    }

    private func text(_ x: Double, _ y: Double, _ content: String, size: Double, anchor: String = "start",
                      weight: String = "normal", fill: String) -> String {
        "<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" font-size=\"\(fmt(size))\" text-anchor=\"\(anchor)\" "
            + "font-weight=\"\(weight)\" fill=\"\(fill)\">\(escape(content))</text>"
    }
}

private func fmt(_ value: Double) -> String { fixed(value, 1) }

private func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
