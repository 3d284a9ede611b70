@testable import NormKit

/// Direct convolution and transposed convolution in Double, stride 1, no padding, any number of
/// spatial dimensions: the slow reference the BatchNorm-folding property tests apply weights with.
enum NaiveConvolution {
    /// `input` `[N, Cin, S…]`; `weight` `[Cout, Cin/groups, K…]`, or with `transposed`
    /// `[Cin, Cout/groups, K…]`; `bias` `[Cout]`. The output is `[N, Cout, S − K + 1]`, or
    /// `[N, Cout, S + K − 1]` transposed, each output channel o summing the input channels of
    /// its group o / (Cout/groups).
    static func apply(_ input: Tensor<Double>, weight: Tensor<Double>, bias: Tensor<Double>?, groups: Int,
                      transposed: Bool) -> Tensor<Double> {
        let (batch, inputChannels) = (input.shape[0], input.shape[1])
        let spatial = Array(input.shape.dropFirst(2)), kernel = Array(weight.shape.dropFirst(2))
        let outputChannels = transposed ? weight.shape[1] * groups : weight.shape[0]
        let outputSpatial = zip(spatial, kernel).map { transposed ? $0 + $1 - 1 : $0 - $1 + 1 }
        let (inputsPerGroup, outputsPerGroup) = (inputChannels / groups, outputChannels / groups)
        var output = Tensor<Double>.zeros(shape: [batch, outputChannels] + outputSpatial)
        for n in 0..<batch {
            for o in 0..<outputChannels {
                let group = o / outputsPerGroup
                for i in (group * inputsPerGroup)..<((group + 1) * inputsPerGroup) {
                    // Conv: out[q] += x[q + k] · w[o, i′, k]. Transposed: out[p + k] += x[p] · w[i, j, k].
                    let filter = transposed ? weight.slice(i, o - group * outputsPerGroup) : weight.slice(o, i - group * inputsPerGroup)
                    for k in multiIndices(kernel) {
                        for position in multiIndices(transposed ? spatial : outputSpatial) {
                            let shifted = zip(position, k).map(+)
                            let (from, to) = transposed ? (position, shifted) : (shifted, position)
                            output[[n, o] + to] += input[[n, i] + from] * filter[k]!
                        }
                    }
                }
                if let bias {
                    for position in multiIndices(outputSpatial) { output[[n, o] + position] += bias[o] }
                }
            }
        }
        return output
    }

    /// Every index of `shape` in row-major order.
    static func multiIndices(_ shape: [Int]) -> [[Int]] {
        shape.reduce([[]]) { prefixes, size in prefixes.flatMap { prefix in (0..<size).map { prefix + [$0] } } }
    }
}

extension Tensor where Scalar == Double {
    subscript(index: [Int]) -> Double {
        get { storage[offset(of: index)] }
        set { storage[offset(of: index)] = newValue }
    }

    /// The kernel `[K…]` at `weight[a, b]`, as a lookup by kernel index.
    func slice(_ a: Int, _ b: Int) -> [[Int]: Double] {
        var result: [[Int]: Double] = [:]
        for k in NaiveConvolution.multiIndices(Array(shape.dropFirst(2))) { result[k] = self[[a, b] + k] }
        return result
    }
}
