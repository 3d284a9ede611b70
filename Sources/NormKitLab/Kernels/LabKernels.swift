/// The sizes of one 2-D convolution over an (N, C_in, H, W) input.
struct ConvolutionGeometry: Equatable, Sendable {
    var batch: Int, inChannels: Int, height: Int, width: Int
    var outChannels: Int, kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int

    var outHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    var outWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    /// Rows of the im2col matrix: C_in · kh · kw.
    var patchSize: Int { inChannels * kernelHeight * kernelWidth }
    /// Output positions per sample: H_out · W_out.
    var outPlane: Int { outHeight * outWidth }
    /// Columns of the im2col matrix: N · H_out · W_out.
    var positions: Int { batch * outPlane }
    var inputCount: Int { batch * inChannels * height * width }
    var outputCount: Int { batch * outChannels * outPlane }
}

/// The sizes of a 2-D pooling window sliding over `planes` planes of `height` × `width`.
struct PoolGeometry: Equatable, Sendable {
    var planes: Int, height: Int, width: Int, kernel: Int, stride: Int
    var outHeight: Int { (height - kernel) / stride + 1 }
    var outWidth: Int { (width - kernel) / stride + 1 }
}

/// PyTorch's `torch.optim.SGD` options for one step (dampening 0, no Nesterov).
struct SGDStepOptions: Equatable, Sendable {
    var learningRate: Double
    var momentum: Double
    var weightDecay: Double
}

/// The element loops of the lab. Generic, and compiled only specialized for `Float` and `Double`
/// (through ``LabKernelCall/run()``; see ``LabScalar``).
enum LabKernels {
    // MARK: Convolution

    /// im2col then one matrix product: columns [C_in·kh·kw, N·H_out·W_out], output
    /// W [C_out, C_in·kh·kw] · columns, scattered to (N, C_out, H_out, W_out) with the bias added.
    static func conv2dForward<S: LabScalar>(
        _ input: [S], weight: [S], bias: [S]?, geometry g: ConvolutionGeometry
    ) -> (output: [S], columns: [S]) {
        let columns = im2col(input, g)
        let product = MatrixMultiply.product(weight, columns, m: g.outChannels, n: g.positions, k: g.patchSize)
        let plane = g.outPlane
        let output = [S](unsafeUninitializedCapacity: g.outputCount) { out, initialized in
            product.withUnsafeBufferPointer { y in
                for n in 0..<g.batch {
                    for o in 0..<g.outChannels {
                        let shift = bias?[o] ?? 0
                        let source = y.baseAddress! + o * g.positions + n * plane
                        let target = out.baseAddress! + (n * g.outChannels + o) * plane
                        for s in 0..<plane { target[s] = source[s] + shift }
                    }
                }
            }
            initialized = g.outputCount
        }
        return (output, columns)
    }

    /// ∂L/∂W = dY · columnsᵀ, ∂L/∂b = Σ dY over N and space, ∂L/∂x = col2im(Wᵀ · dY), with dY
    /// gathered as [C_out, N·H_out·W_out].
    static func conv2dBackward<S: LabScalar>(
        columns: [S], weight: [S], gradOutput: [S], geometry g: ConvolutionGeometry,
        needsInputGradient: Bool, needsBiasGradient: Bool
    ) -> (input: [S]?, weight: [S], bias: [S]?) {
        let plane = g.outPlane
        var dy = [S](repeating: 0, count: g.outChannels * g.positions)
        var biasGradient: [S]? = needsBiasGradient ? [S](repeating: 0, count: g.outChannels) : nil
        gradOutput.withUnsafeBufferPointer { source in
            dy.withUnsafeMutableBufferPointer { target in
                for n in 0..<g.batch {
                    for o in 0..<g.outChannels {
                        (target.baseAddress! + o * g.positions + n * plane)
                            .update(from: source.baseAddress! + (n * g.outChannels + o) * plane, count: plane)
                    }
                }
            }
        }
        if needsBiasGradient {
            dy.withUnsafeBufferPointer { dy in
                for o in 0..<g.outChannels {
                    biasGradient![o] = sum(dy.baseAddress! + o * g.positions, count: g.positions)
                }
            }
        }
        let weightGradient = MatrixMultiply.product(dy, columns, transposeB: true, m: g.outChannels, n: g.patchSize,
                                                    k: g.positions)
        let inputGradient = needsInputGradient
            ? col2im(MatrixMultiply.product(weight, transposeA: true, dy, m: g.patchSize, n: g.positions, k: g.outChannels), g)
            : nil
        return (inputGradient, weightGradient, biasGradient)
    }

    /// The im2col matrix [C_in·kh·kw, N·H_out·W_out]: row (c, i, j), column (n, y, x) holds
    /// input[n, c, y·stride − padding + i, x·stride − padding + j], or 0 in the padding.
    static func im2col<S: LabScalar>(_ input: [S], _ g: ConvolutionGeometry) -> [S] {
        let count = g.patchSize * g.positions
        return [S](unsafeUninitializedCapacity: count) { columns, initialized in
            input.withUnsafeBufferPointer { x in
                forEachPatchLine(g) { columnOffset, imageLine, j in
                    let target = columns.baseAddress! + columnOffset
                    guard let imageLine else { return target.update(repeating: 0, count: g.outWidth) }
                    let line = x.baseAddress! + imageLine
                    for column in 0..<g.outWidth {
                        let ix = column * g.stride - g.padding + j
                        target[column] = ix >= 0 && ix < g.width ? line[ix] : 0
                    }
                }
            }
            initialized = count
        }
    }

    /// The adjoint of ``im2col(_:_:)``: every column entry is added back to the input position
    /// it was read from.
    static func col2im<S: LabScalar>(_ columns: [S], _ g: ConvolutionGeometry) -> [S] {
        var input = [S](repeating: 0, count: g.inputCount)
        input.withUnsafeMutableBufferPointer { dx in
            columns.withUnsafeBufferPointer { columns in
                forEachPatchLine(g) { columnOffset, imageLine, j in
                    guard let imageLine else { return }
                    let source = columns.baseAddress! + columnOffset, line = dx.baseAddress! + imageLine
                    for column in 0..<g.outWidth {
                        let ix = column * g.stride - g.padding + j
                        if ix >= 0 && ix < g.width { line[ix] += source[column] }
                    }
                }
            }
        }
        return input
    }

    /// The walk im2col and col2im share: for every patch row (c, i, j), sample n and output row y,
    /// `body(columnOffset, imageLine, j)` with the offset of that run of `outWidth` entries in the
    /// column matrix, and the offset of input row y·stride − padding + i of channel c in sample n,
    /// or `nil` when that row lies in the padding.
    @inline(__always)
    static func forEachPatchLine(_ g: ConvolutionGeometry, _ body: (Int, Int?, Int) -> Void) {
        for c in 0..<g.inChannels {
            for i in 0..<g.kernelHeight {
                for j in 0..<g.kernelWidth {
                    var columnOffset = ((c * g.kernelHeight + i) * g.kernelWidth + j) * g.positions
                    for n in 0..<g.batch {
                        let plane = (n * g.inChannels + c) * g.height * g.width
                        for y in 0..<g.outHeight {
                            let iy = y * g.stride - g.padding + i
                            body(columnOffset, iy >= 0 && iy < g.height ? plane + iy * g.width : nil, j)
                            columnOffset += g.outWidth
                        }
                    }
                }
            }
        }
    }

    // MARK: Linear

    /// y = x Wᵀ + b for x [N, in], W [out, in].
    static func linearForward<S: LabScalar>(
        _ input: [S], weight: [S], bias: [S]?, batch: Int, inFeatures: Int, outFeatures: Int
    ) -> [S] {
        var output = [S](repeating: 0, count: batch * outFeatures)
        if let bias {
            for n in 0..<batch { for o in 0..<outFeatures { output[n * outFeatures + o] = bias[o] } }
        }
        MatrixMultiply.product(input, weight, transposeB: true, m: batch, n: outFeatures, k: inFeatures, into: &output,
                               accumulate: true)
        return output
    }

    /// ∂L/∂x = dY W, ∂L/∂W = dYᵀ x, ∂L/∂b = Σₙ dY.
    static func linearBackward<S: LabScalar>(
        _ input: [S], weight: [S], gradOutput: [S], batch: Int, inFeatures: Int, outFeatures: Int,
        needsBiasGradient: Bool
    ) -> (input: [S]?, weight: [S], bias: [S]?) {
        let dx = MatrixMultiply.product(gradOutput, weight, m: batch, n: inFeatures, k: outFeatures)
        let dw = MatrixMultiply.product(gradOutput, transposeA: true, input, m: outFeatures, n: inFeatures, k: batch)
        var db: [S]?
        if needsBiasGradient {
            var sums = [S](repeating: 0, count: outFeatures)
            for n in 0..<batch { for o in 0..<outFeatures { sums[o] += gradOutput[n * outFeatures + o] } }
            db = sums
        }
        return (dx, dw, db)
    }

    // MARK: Activation, pooling

    static func relu<S: LabScalar>(_ x: [S]) -> [S] {
        [S](unsafeUninitializedCapacity: x.count) { y, initialized in
            x.withUnsafeBufferPointer { x in
                for i in 0..<x.count { y[i] = x[i] > 0 ? x[i] : 0 }
            }
            initialized = x.count
        }
    }

    /// dY where the input was positive, 0 elsewhere (PyTorch's convention at 0).
    static func reluBackward<S: LabScalar>(_ x: [S], _ dy: [S]) -> [S] {
        [S](unsafeUninitializedCapacity: x.count) { dx, initialized in
            x.withUnsafeBufferPointer { x in
                dy.withUnsafeBufferPointer { dy in
                    for i in 0..<x.count { dx[i] = x[i] > 0 ? dy[i] : 0 }
                }
            }
            initialized = x.count
        }
    }

    /// The maximum of each window, and its index within the plane (the first one on ties).
    static func maxPool<S: LabScalar>(_ x: [S], _ g: PoolGeometry) -> ([S], [Int32]) {
        let outPlane = g.outHeight * g.outWidth
        var output = [S](repeating: 0, count: g.planes * outPlane)
        var argmax = [Int32](repeating: 0, count: g.planes * outPlane)
        x.withUnsafeBufferPointer { x in
            for p in 0..<g.planes {
                let plane = x.baseAddress! + p * g.height * g.width
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        var best = -S.infinity, bestIndex = oy * g.stride * g.width + ox * g.stride
                        for i in 0..<g.kernel {
                            for j in 0..<g.kernel {
                                let index = (oy * g.stride + i) * g.width + ox * g.stride + j
                                if plane[index] > best || plane[index].isNaN {
                                    best = plane[index]
                                    bestIndex = index
                                    if best.isNaN { break }
                                }
                            }
                        }
                        output[p * outPlane + oy * g.outWidth + ox] = best
                        argmax[p * outPlane + oy * g.outWidth + ox] = Int32(bestIndex)
                    }
                }
            }
        }
        return (output, argmax)
    }

    static func maxPoolBackward<S: LabScalar>(_ dy: [S], argmax: [Int32], _ g: PoolGeometry) -> [S] {
        let outPlane = g.outHeight * g.outWidth, inPlane = g.height * g.width
        var dx = [S](repeating: 0, count: g.planes * inPlane)
        for p in 0..<g.planes {
            for o in 0..<outPlane { dx[p * inPlane + Int(argmax[p * outPlane + o])] += dy[p * outPlane + o] }
        }
        return dx
    }

    /// The mean of each plane.
    static func averagePool<S: LabScalar>(_ x: [S], planes: Int, planeSize: Int) -> [S] {
        x.withUnsafeBufferPointer { x in
            (0..<planes).map { p in sum(x.baseAddress! + p * planeSize, count: planeSize) / S(planeSize) }
        }
    }

    static func averagePoolBackward<S: LabScalar>(_ dy: [S], planes: Int, planeSize: Int) -> [S] {
        var dx = [S](repeating: 0, count: planes * planeSize)
        for p in 0..<planes {
            let share = dy[p] / S(planeSize)
            for i in 0..<planeSize { dx[p * planeSize + i] = share }
        }
        return dx
    }

    // MARK: Loss

    /// The mean over the batch of −log softmax(z)[label], and the softmax probabilities. Each row
    /// is shifted by its maximum first; the loss is summed in `Double`.
    static func softmaxCrossEntropy<S: LabScalar>(_ logits: [S], labels: [Int], classes: Int) -> (Double, [S]) {
        var probabilities = [S](repeating: 0, count: logits.count)
        var total = 0.0
        for n in labels.indices {
            let row = logits[(n * classes)..<((n + 1) * classes)]
            let top = row.max()!
            var denominator = 0.0
            for (c, z) in row.enumerated() {
                let e = exp(Double(z - top))
                probabilities[n * classes + c] = S(e)
                denominator += e
            }
            for c in 0..<classes { probabilities[n * classes + c] = S(Double(probabilities[n * classes + c]) / denominator) }
            total += log(denominator) - Double(logits[n * classes + labels[n]] - top)
        }
        return (labels.isEmpty ? 0 : total / Double(labels.count), probabilities)
    }

    /// ∂(scale · mean loss)/∂z = scale · (softmax(z) − onehot(label)) / N.
    static func softmaxCrossEntropyBackward<S: LabScalar>(
        _ probabilities: [S], labels: [Int], classes: Int, scale: Double
    ) -> [S] {
        let factor = S(scale / Double(max(labels.count, 1)))
        var gradient = probabilities
        for n in labels.indices { gradient[n * classes + labels[n]] -= 1 }
        for i in gradient.indices { gradient[i] *= factor }
        return gradient
    }

    /// How many rows have their largest logit at the label (the first maximum on ties).
    static func correctCount<S: LabScalar>(_ logits: [S], labels: [Int], classes: Int) -> Int {
        var correct = 0
        for n in labels.indices {
            var best = 0
            for c in 1..<classes where logits[n * classes + c] > logits[n * classes + best] { best = c }
            if best == labels[n] { correct += 1 }
        }
        return correct
    }

    // MARK: Optimizer, arithmetic, data

    /// One `torch.optim.SGD` step: d = g + λ·p; v ← μ·v + d (v = d on the first step); p ← p − η·v.
    static func sgdStep<S: LabScalar>(
        _ parameter: [S], gradient: [S], velocity: [S]?, _ options: SGDStepOptions
    ) -> ([S], [S]) {
        let lr = S(options.learningRate), momentum = S(options.momentum), decay = S(options.weightDecay)
        let count = parameter.count
        var newParameter = [S](repeating: 0, count: count)
        var newVelocity = [S](repeating: 0, count: count)
        parameter.withUnsafeBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                newParameter.withUnsafeMutableBufferPointer { out in
                    newVelocity.withUnsafeMutableBufferPointer { v in
                        for i in 0..<count { v[i] = g[i] + decay * p[i] }
                        if let velocity, options.momentum != 0 {
                            velocity.withUnsafeBufferPointer { previous in
                                for i in 0..<count { v[i] += momentum * previous[i] }
                            }
                        }
                        for i in 0..<count { out[i] = p[i] - lr * v[i] }
                    }
                }
            }
        }
        return (newParameter, newVelocity)
    }

    static func zeros<S: LabScalar>(_ count: Int, as _: S.Type) -> [S] { [S](repeating: 0, count: count) }

    static func add<S: LabScalar>(_ a: [S], _ b: [S]) -> [S] {
        precondition(a.count == b.count, "add: \(a.count) and \(b.count) elements")
        return [S](unsafeUninitializedCapacity: a.count) { c, initialized in
            for i in 0..<a.count { c[i] = a[i] + b[i] }
            initialized = a.count
        }
    }

    static func scale<S: LabScalar>(_ a: [S], by factor: S) -> [S] { a.map { $0 * factor } }

    /// The rows `rows` of a row-major [·, rowLength] array, concatenated and converted.
    static func gather<S: LabScalar>(_ source: [Float], rowLength: Int, rows: [Int], as _: S.Type) -> [S] {
        var result = [S]()
        result.reserveCapacity(rows.count * rowLength)
        for row in rows {
            for i in 0..<rowLength { result.append(S(source[row * rowLength + i])) }
        }
        return result
    }

    /// The sum of `count` values, in SIMD lanes.
    @inline(__always)
    static func sum<S: LabScalar>(_ x: UnsafePointer<S>, count: Int) -> S {
        var lanes = SIMD8<S>()
        var i = 0
        while i + 8 <= count {
            lanes += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<S>.self)
            i += 8
        }
        var total = lanes.sum()
        while i < count {
            total += x[i]
            i += 1
        }
        return total
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#else
import Foundation
#endif
