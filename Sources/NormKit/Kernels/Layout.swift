extension Kernels {
    /// The storage of a `[N, C, spatial…]` tensor moved between row-major (NCHW) and
    /// channels-last (NHWC) order: per sample, a C × S matrix transposed in tiles.
    static func permuted<S: NormScalar>(_ values: [S], shape: [Int], toChannelsLast: Bool) -> [S] {
        guard shape.count > 2, !values.isEmpty else { return values }
        let samples = shape[0], channels = shape[1], inner = values.count / max(samples * channels, 1)
        // Row-major to channels-last transposes C × S; the way back transposes S × C.
        let (rows, columns) = toChannelsLast ? (channels, inner) : (inner, channels)
        let tile = 16
        return [S](unsafeUninitializedCapacity: values.count) { out, initialized in
            values.withUnsafeBufferPointer { input in
                let box = UncheckedSendable((input.baseAddress!, out.baseAddress!))
                Parallelism.forEachChunk(taskCount: samples, elements: values.count) { chunk in
                    let (source, destination) = box.value
                    for n in chunk {
                        let from = source + n * rows * columns, to = destination + n * rows * columns
                        for r0 in stride(from: 0, to: rows, by: tile) {
                            for c0 in stride(from: 0, to: columns, by: tile) {
                                for r in r0..<min(r0 + tile, rows) {
                                    for c in c0..<min(c0 + tile, columns) { to[c * rows + r] = from[r * columns + c] }
                                }
                            }
                        }
                    }
                }
            }
            initialized = values.count
        }
    }
}
