/// # How NormKit stays fast in a user's build
///
/// Swift compiles a generic function once, unspecialized, unless the caller's module sees its
/// body. A user's `BatchNorm2d<Float>` would then run every `+` and every conversion through a
/// witness table, 20× to 50× slower than specialized code. NormKit's rule:
///
/// **Every loop over elements runs in code compiled for a concrete scalar type inside NormKit.**
/// Generic code (``Tensor``, ``Functional``, the layers) does O(1) work per call, plus O(C)
/// bookkeeping in `Double`, and reaches the element loops only through one protocol requirement,
/// `NormScalar._runKernel(_:)`. `Float` and `Double` implement it with one line, `call.run()`;
/// inside that line the type is concrete, so the optimizer specializes `KernelCall.run()` and
/// every kernel it reaches. A call from any module costs one witness-table call per kernel, with
/// no `@inlinable` surface and no flags on the user's side. `normkit bench`, another module,
/// measures exactly this, and `scripts/instruction-budget.sh` guards it in CI.
public struct KernelCall<Scalar: NormScalar> {
    enum Request {
        case normalizeWithBatchStatistics(input: [Scalar], geometry: NormalizationGeometry, centered: Bool,
                                          weight: [Scalar.ComputeScalar]?, bias: [Scalar.ComputeScalar]?, eps: Double)
        case moments(input: [Scalar], geometry: NormalizationGeometry)
        case normalize(input: [Scalar], geometry: NormalizationGeometry, mean: [Double], invstd: [Double],
                       weight: [Scalar.ComputeScalar]?, bias: [Scalar.ComputeScalar]?, inPlace: Bool)
        case backward(input: [Scalar], gradOutput: [Scalar], geometry: NormalizationGeometry, mean: [Double],
                      invstd: [Double], weight: [Scalar.ComputeScalar]?, mode: GradientMode, channelSums: Bool)
        case channelGradientSums(input: [Scalar], gradOutput: [Scalar], geometry: NormalizationGeometry,
                                 mean: [Double], invstd: [Double])
        case toDoubles([Scalar])
        case fromDoubles([Double])
        case toFloats([Scalar])
        case fromFloats([Float])
        /// a + b, elementwise (gradient accumulation).
        case sum([Scalar], [Scalar])
        /// (1 − m)·r + m·s in `Double` for each r of `running` and s of `batch`, rounded to
        /// `Scalar` (the running statistics' update).
        case movedToward([Scalar], batch: [Double], factor: Double)
        case repeating(Scalar, count: Int)
        case permute([Scalar], shape: [Int], toChannelsLast: Bool)
    }

    enum Response {
        case none
        case output([Scalar], moments: Moments?, invstd: [Double]?)
        case moments(Moments)
        case gradient([Scalar], sums: BackwardSums?)
        case sums(BackwardSums)
        case doubles([Double])
        case floats([Float])
        case scalars([Scalar])
    }

    var request: Request
    var response: Response = .none

    init(_ request: Request) { self.request = request }

    /// Runs the request. Called only from the conformances of `Float`, `Double` and the 16-bit
    /// types, where `Scalar` is concrete and this whole call tree is specialized.
    mutating func run() {
        _ = MemoryTuning.applied
        switch request {
        case let .normalizeWithBatchStatistics(input, geometry, centered, weight, bias, eps):
            var stats: (moments: Moments, invstd: [Double])?
            let output = Self.producing(count: input.count) { y in
                Self.withOptional(weight, bias) { w, b in
                    Self.withBase(input) { x in
                        stats = Kernels.normalizeWithBatchStatistics(x, y, geometry: geometry, centered: centered,
                                                                     weight: w, bias: b, eps: eps)
                    }
                }
            }
            response = .output(output, moments: stats?.moments, invstd: stats?.invstd)
        case let .moments(input, geometry):
            response = .moments(Self.withBase(input) { Kernels.moments($0, geometry: geometry) })
        case .normalize(var storage, let geometry, let mean, let invstd, let weight, let bias, true):
            // In place: once the request lets go of the input, `storage` is its only reference
            // when the caller handed over its own (``Functional/batchNormInference(_:runningMean:runningVar:weight:bias:eps:)``).
            request = .toDoubles([])
            Self.withOptional(weight, bias) { w, b in
                storage.withUnsafeMutableBufferPointer { x in
                    guard let base = x.baseAddress, x.count > 0 else { return }
                    Kernels.normalize(base, base, geometry: geometry, mean: mean, invstd: invstd, weight: w, bias: b, stream: false)
                }
            }
            response = .output(storage, moments: nil, invstd: nil)
        case let .normalize(input, geometry, mean, invstd, weight, bias, false):
            let output = Self.producing(count: input.count) { y in
                Self.withOptional(weight, bias) { w, b in
                    Self.withBase(input) { x in
                        Kernels.normalize(x, y, geometry: geometry, mean: mean, invstd: invstd, weight: w, bias: b,
                                          stream: NativeLoops.streamsSingleSweep(bytes: 2 * input.count * MemoryLayout<Scalar>.stride))
                    }
                }
            }
            response = .output(output, moments: nil, invstd: nil)
        case let .backward(input, gradOutput, geometry, mean, invstd, weight, mode, channelSums):
            var sums: BackwardSums?
            let gradient = Self.producing(count: input.count) { dx in
                Self.withOptional(weight, nil as [Scalar.ComputeScalar]?) { w, _ in
                    Self.withBase(input) { x in
                        Self.withBase(gradOutput) { dy in
                            sums = Kernels.backward(x, dy, dx, geometry: geometry, mean: mean,
                                                    invstd: invstd, weight: w, mode: mode, channelSums: channelSums)
                        }
                    }
                }
            }
            response = .gradient(gradient, sums: sums)
        case let .channelGradientSums(input, gradOutput, geometry, mean, invstd):
            response = .sums(Self.withBase(input) { x in
                Self.withBase(gradOutput) { dy in
                    Kernels.channelGradientSums(x, dy, geometry: geometry, mean: mean, invstd: invstd)
                }
            })
        case let .toDoubles(values):
            response = .doubles(TensorArrays.make(count: values.count) { out, count in
                for i in values.indices { out[i] = Double(values[i]) }
                count = values.count
            })
        case let .toFloats(values):
            response = .floats(TensorArrays.make(count: values.count) { out, count in
                for i in values.indices { out[i] = Float(values[i]) }
                count = values.count
            })
        case let .fromFloats(values):
            response = .scalars(Self.producing(count: values.count) { out in
                for i in values.indices { out[i] = Scalar(values[i]) }
            })
        case let .fromDoubles(values):
            response = .scalars(Self.producing(count: values.count) { out in
                for i in values.indices { out[i] = Scalar(values[i]) }
            })
        case let .repeating(value, count):
            response = .scalars(Self.producing(count: count) { out in out.initialize(repeating: value, count: count) })
        case let .sum(a, b):
            response = .scalars(Self.producing(count: a.count) { out in
                for i in a.indices { out[i] = a[i] + b[i] }
            })
        case let .movedToward(running, batch, m):
            response = .scalars(Self.producing(count: running.count) { out in
                for i in running.indices { out[i] = Scalar((1 - m) * Double(running[i]) + m * batch[i]) }
            })
        case let .permute(values, shape, toChannelsLast):
            response = .scalars(Kernels.permuted(values, shape: shape, toChannelsLast: toChannelsLast))
        }
    }

    /// A new array of `count` scalars written by `body`. Kernels see a valid pointer even for an
    /// empty array: with no elements they still compute their per-statistic results.
    @inline(__always)
    static func producing(count: Int, _ body: (UnsafeMutablePointer<Scalar>) -> Void) -> [Scalar] {
        TensorArrays.make(count: max(count, 1)) { buffer, initialized in
            body(buffer.baseAddress!)
            initialized = count
        }
    }

    /// The base address of `array`, valid (and never read) when the array is empty.
    @inline(__always)
    static func withBase<R>(_ array: [Scalar], _ body: (UnsafePointer<Scalar>) -> R) -> R {
        guard !array.isEmpty else { return [Scalar(0)].withUnsafeBufferPointer { body($0.baseAddress!) } }
        return array.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Optional parameter arrays as optional pointers.
    @inline(__always)
    static func withOptional<Parameter>(
        _ weight: [Parameter]?, _ bias: [Parameter]?, _ body: (UnsafePointer<Parameter>?, UnsafePointer<Parameter>?) -> Void
    ) {
        func withPointer(_ array: [Parameter]?, _ body: (UnsafePointer<Parameter>?) -> Void) {
            guard let array else { return body(nil) }
            array.withUnsafeBufferPointer { body($0.baseAddress) }
        }
        withPointer(weight) { w in withPointer(bias) { b in body(w, b) } }
    }
}

extension Float {
    public static func _runKernel(_ call: inout KernelCall<Float>) { call.run() }
}

extension Double {
    public static func _runKernel(_ call: inout KernelCall<Double>) { call.run() }
}

/// The generic side of the rule: each function builds one request, makes the one witness-table
/// call, and unpacks the response.
extension Kernels {
    static func call<S: NormScalar>(_ request: KernelCall<S>.Request) -> KernelCall<S>.Response {
        var call = KernelCall<S>(request)
        S._runKernel(&call)
        return call.response
    }

    static func doubles<S: NormScalar>(_ values: [S]) -> [Double] {
        guard case let .doubles(result) = call(KernelCall<S>.Request.toDoubles(values)) else { fatalError("kernel response") }
        return result
    }

    static func repeating<S: NormScalar>(_ value: S, count: Int) -> [S] {
        guard case let .scalars(result) = call(KernelCall<S>.Request.repeating(value, count: count)) else { fatalError("kernel response") }
        return result
    }

    static func sum<S: NormScalar>(_ a: [S], _ b: [S]) -> [S] {
        guard case let .scalars(result) = call(KernelCall<S>.Request.sum(a, b)) else { fatalError("kernel response") }
        return result
    }

    /// (1 − m)·r + m·s for each r of `running` and s of `batch` (as many), computed in `Double`.
    static func movedToward<S: NormScalar>(_ running: [S], batch: [Double], factor m: Double) -> [S] {
        guard case let .scalars(result) = call(KernelCall<S>.Request.movedToward(running, batch: batch, factor: m)) else {
            fatalError("kernel response")
        }
        return result
    }

    /// The storage of a `[N, C, spatial…]` tensor moved between row-major and channels-last
    /// order (``permuted(_:shape:toChannelsLast:)``, specialized).
    static func permute<S: NormScalar>(_ values: [S], shape: [Int], toChannelsLast: Bool) -> [S] {
        guard case let .scalars(result) = call(KernelCall<S>.Request.permute(values, shape: shape, toChannelsLast: toChannelsLast)) else {
            fatalError("kernel response")
        }
        return result
    }

    static func floats<S: NormScalar>(_ values: [S]) -> [Float] {
        guard case let .floats(result) = call(KernelCall<S>.Request.toFloats(values)) else { fatalError("kernel response") }
        return result
    }

    /// Values in the type the kernels compute in: the array itself for `Float` and `Double`,
    /// widened to `Float` for the 16-bit types.
    static func computeValues<S: NormScalar>(_ values: [S]) -> [S.ComputeScalar] {
        if S.self == S.ComputeScalar.self { return unsafeBitCast(values, to: [S.ComputeScalar].self) }
        precondition(S.ComputeScalar.self == Float.self, "a scalar type computes in itself or in Float")
        return unsafeBitCast(floats(values), to: [S.ComputeScalar].self)
    }

    static func scalars<S: NormScalar>(fromFloats values: [Float], as _: S.Type = S.self) -> [S] {
        guard case let .scalars(result) = call(KernelCall<S>.Request.fromFloats(values)) else { fatalError("kernel response") }
        return result
    }

    static func scalars<S: NormScalar>(_ values: [Double], as _: S.Type = S.self) -> [S] {
        guard case let .scalars(result) = call(KernelCall<S>.Request.fromDoubles(values)) else { fatalError("kernel response") }
        return result
    }
}
