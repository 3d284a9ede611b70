extension Kernels {
    /// The storage of a `[N, C, spatial…]` tensor moved between row-major (NCHW) and
    /// channels-last (NHWC) order: per sample, a C × S matrix transposed by the C loop
    /// (``NativeLoops/transpose(_:_:rows:columns:rowRange:)``: 8 × 8 blocks in registers), split
    /// over threads in tasks of 16 rows, a chunk's tasks in one sample joined into one call.
    /// Reached through ``Kernels/permute(_:shape:toChannelsLast:)``, specialized, like every
    /// element loop (the Swift loop before it, which `Tensor` called directly, ran unspecialized
    /// in users' builds: 7.9 ms for Float 32×64×56×56). Against PyTorch's `contiguous(memory_format:)`,
    /// 2 threads, Float: 32×64×56×56 0.75–1.04 ms to channels-last (PyTorch 2.0 ms) and 0.83 ms
    /// back (2.7 ms); 8×64×32×32 35–45 µs (443 µs) and 116 µs (149 µs).
    static func permuted<S: NormScalar>(_ values: [S], shape: [Int], toChannelsLast: Bool) -> [S] {
        guard shape.count > 2, !values.isEmpty else { return values }
        let samples = shape[0], channels = shape[1], inner = values.count / max(samples * channels, 1)
        // Row-major to channels-last transposes C × S; the way back transposes S × C.
        let (rows, columns) = toChannelsLast ? (channels, inner) : (inner, channels)
        let blocks = (rows + transposedRows - 1) / transposedRows  // tasks per sample
        return TensorArrays.make(count: values.count) { out, initialized in
            values.withUnsafeBufferPointer { input in
                let box = UncheckedSendable((input.baseAddress!, out.baseAddress!))
                Parallelism.forEachChunk(taskCount: samples * blocks, elements: values.count) { chunk in
                    let (source, destination) = box.value
                    var task = chunk.lowerBound
                    while task < chunk.upperBound {  // one call per sample the chunk touches
                        let n = task / blocks, end = min(chunk.upperBound, (n + 1) * blocks)
                        let offset = n * rows * columns
                        NativeLoops.transpose(source + offset, destination + offset, rows: rows, columns: columns,
                                              rowRange: (task - n * blocks) * transposedRows..<min((end - n * blocks) * transposedRows, rows))
                        task = end
                    }
                }
            }
            initialized = values.count
        }
    }

    /// The rows of one transposing task (the C loop's step).
    static let transposedRows = 16
}
