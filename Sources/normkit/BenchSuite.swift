/// The cases `normkit bench` runs when no `--case` is given (`normkit bench --list` prints them).
///
/// Every layer in training forward, eval forward and backward, float32 unless marked. The small
/// sizes (under 1 MB per tensor) stay in cache and measure the per-call overhead. The large ones
/// measure the memory bandwidth: 16.8 MB to 67 MB per tensor against a 32 MiB L3. Up to about
/// 34 MB per tensor, part of the input still comes from L3 on the next call, so those cases can
/// pass 100% of the copy roofline; the 67 MB ones cannot. Cases of one shape, dtype and layout
/// follow each other, so they share their random inputs.
enum BenchSuite {
    static let defaultCases: [BenchCase] = defaultCaseStrings.map { text in
        do { return try BenchCase(parsing: text) } catch { preconditionFailure("default suite: \(error)") }
    }

    static let defaultCaseStrings: [String] =
        // Small: per-call overhead.
        cases("batchnorm2d", "64x32x7x7", modes: ["forward", "eval", "backward"], layouts: ["nchw", "nhwc"])
        + cases("layernorm", "64x768", modes: ["forward", "eval", "backward"])
        + cases("rmsnorm", "64x768", modes: ["forward", "backward"])
        + cases("groupnorm", "4x64x16x16", modes: ["forward", "backward"], extra: ",groups=32")
        // Beyond L3.
        + cases("batchnorm2d", "32x64x56x56", modes: ["forward", "eval", "backward"], layouts: ["nchw", "nhwc"])
        + cases("batchnorm2d", "32x64x56x56", modes: ["forward"], extra: ",dtype=float64")
        + halfPrecisionCases
        + cases("batchnorm2d", "32x128x64x64", modes: ["forward", "backward"])
        + cases("batchnorm1d", "4096x1024", modes: ["forward", "eval", "backward"])
        + cases("batchnorm1d", "64x256x1024", modes: ["forward", "backward"])
        + cases("batchnorm3d", "8x64x16x32x32", modes: ["forward", "eval", "backward"])
        + cases("batchnorm3d", "8x64x16x32x32", modes: ["forward", "backward"], layouts: ["nhwc"])
        + cases("instancenorm1d", "32x64x4096", modes: ["forward", "backward"])
        + cases("instancenorm2d", "8x64x128x128", modes: ["forward", "eval", "backward"], layouts: ["nchw", "nhwc"])
        + cases("instancenorm3d", "8x32x32x32x32", modes: ["forward", "backward"], layouts: ["nchw", "nhwc"])
        + cases("layernorm", "8192x1024", modes: ["forward", "eval", "backward"])
        + cases("layernorm", "8192x1024", modes: ["forward"], extra: ",dtype=float64")
        + cases("layernorm", "16384x1024", modes: ["forward", "backward"])
        + cases("layernorm", "8192x768", modes: ["forward", "backward"])  // BERT-base rows, 3 KiB each
        + cases("groupnorm", "16x256x32x32", modes: ["forward", "eval", "backward"], layouts: ["nchw", "nhwc"], extra: ",groups=32")
        + cases("groupnorm", "32x256x32x32", modes: ["forward", "backward"], extra: ",groups=32")
        + cases("rmsnorm", "8192x1024", modes: ["forward", "eval", "backward"])
        // Tensor.withMemoryFormat, both ways.
        + cases("memoryformat", "32x64x56x56", modes: ["forward"], layouts: ["nhwc", "nchw"])
        // Distributed, over two thread ranks.
        + ["layer=collective,shape=8,ranks=2",
           "layer=syncbatchnorm2d,shape=8x16x4x4,mode=step,ranks=2"]

    /// A Float layer on half-precision input, beside the float32 cases of the same shapes: half
    /// the bytes should take about half the time beyond the caches.
    private static var halfPrecisionCases: [String] {
        #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
        let dtypes = ["float16", "bfloat16"]
        #else
        let dtypes = ["bfloat16"]  // Swift has no Float16 on macOS x86-64
        #endif
        return dtypes.flatMap { dtype in
            cases("batchnorm2d", "32x64x56x56", modes: ["forward", "eval", "backward"], extra: ",dtype=\(dtype)")
                + cases("layernorm", "8192x1024", modes: ["forward", "backward"], extra: ",dtype=\(dtype)")
                + cases("groupnorm", "16x256x32x32", modes: ["forward"], layouts: ["nhwc"], extra: ",groups=32,dtype=\(dtype)")
        }
    }

    /// One case string per layout and mode, layouts outermost.
    private static func cases(
        _ layer: String, _ shape: String, modes: [String], layouts: [String] = ["nchw"], extra: String = ""
    ) -> [String] {
        layouts.flatMap { layout in
            modes.map { mode in "layer=\(layer),shape=\(shape)\(extra),mode=\(mode),layout=\(layout)" }
        }
    }
}
