#if MPI
import CMPI
import CMPIShim
import Foundation
import NormKit
import NormKitMPI

/// Prints one line prefixed by the rank, flushed at once (ranks' output interleaves by line).
func report(_ group: any ProcessGroup, _ line: String) {
    print("[rank \(group.rank)/\(group.size)] \(line)")
    fflush(nil)  // all streams; `stdout` is not concurrency-safe to name in Swift 6
}

/// Runs every check on every rank; returns the number of failures summed over all ranks (the
/// same number on every rank), or 1 when MPI itself could not start.
func runMPIChecks() -> Int {
    let group: MPIProcessGroup
    do {
        group = try MPIProcessGroup.world()
    } catch {
        print("MPI could not start: \(error)")
        return 1
    }
    var local = 0
    func run(_ name: String, _ body: () throws -> [String]) {
        do {
            let problems = try body()
            for problem in problems { report(group, "FAIL \(name): \(problem)") }
            if problems.isEmpty { report(group, "ok   \(name)") }
            local += problems.count
        } catch {
            report(group, "FAIL \(name): threw \(error)")
            local += 1
        }
    }
    for (index, scenario) in checkScenarios.enumerated() {
        run("SyncBatchNorm<Float> = BatchNorm, \(scenario)") {
            try checkSyncEqualsBatchNorm(Float.self, scenario, seed: UInt64(100 + index), group: group)
        }
        run("SyncBatchNorm<Double> = BatchNorm, \(scenario)") {
            try checkSyncEqualsBatchNorm(Double.self, scenario, seed: UInt64(200 + index), group: group)
        }
    }
    run("data-parallel step of the README") { try checkDataParallelStep(group) }
    if group.size > 1 {
        run("ranks that disagree all throw") { try checkMismatches(group) }
        run("raw collectives with different counts, types or operations all throw") { try checkRawMismatches(group) }
        run("subgroups") { try checkSubgroups(group) }
    }
    run("MPI errors become NormError.mpiError") { try checkErrorPath(group) }
    let total: [Double]
    do {
        total = try group.allReducedSum([Double(local)])
    } catch {
        report(group, "FAIL final all-reduce: \(error)")
        return max(local, 1)
    }
    if group.rank == 0 {
        print(total[0] == 0 ? "PASS: all checks on \(group.size) ranks" : "FAILED: \(Int(total[0])) failures over \(group.size) ranks")
    }
    return Int(total[0])
}

struct CheckScenario: CustomStringConvertible {
    var sampleShape: [Int]
    var momentum: Double?
    var steps = 3
    var description: String { "sample \(sampleShape), momentum \(momentum.map { "\($0)" } ?? "nil")" }
}

let checkScenarios = [
    CheckScenario(sampleShape: [3, 2, 3], momentum: 0.1),
    CheckScenario(sampleShape: [2, 5], momentum: nil),
    // More than 125 channels: the framed payload continues in a second collective.
    CheckScenario(sampleShape: [130], momentum: 0.1),
    // No channels at all (issue #7, A.4: this trapped on every rank).
    CheckScenario(sampleShape: [0, 3], momentum: 0.1),
]

/// Shard sizes at a step: (rank + step) mod 4, so there are empty and one-sample shards, with 2
/// more on the last rank when the global batch would have fewer than 2 samples.
func shardSizes(ranks: Int, step: Int) -> [Int] {
    var sizes = (0..<ranks).map { ($0 + step) % 4 }
    if sizes.reduce(0, +) < 2 { sizes[ranks - 1] += 2 }
    return sizes
}

/// Every rank builds the same global batches from `seed`, runs BatchNorm on them, and runs
/// SyncBatchNorm on its own shard; training steps, then one eval step.
func checkSyncEqualsBatchNorm<S: NormScalar>(
    _: S.Type, _ scenario: CheckScenario, seed: UInt64, group: any ProcessGroup
) throws -> [String] {
    var rng = SeededGenerator(seed: seed)
    let c = scenario.sampleShape[0]
    let weight: Tensor<S> = .randomNormal(shape: [c], mean: 1, std: 0.5, using: &rng)
    let bias: Tensor<S> = .randomNormal(shape: [c], std: 0.5, using: &rng)
    let reference: BatchNorm<S>
    switch scenario.sampleShape.count + 1 {
    case 2, 3: reference = BatchNorm1d(numFeatures: c, momentum: scenario.momentum)
    case 4: reference = BatchNorm2d(numFeatures: c, momentum: scenario.momentum)
    default: reference = BatchNorm3d(numFeatures: c, momentum: scenario.momentum)
    }
    let sync = SyncBatchNorm<S>(numFeatures: c, momentum: scenario.momentum, processGroup: group)
    for layer in [reference, sync] as [BatchNorm<S>] {
        try layer.loadStateDict(["weight": weight, "bias": bias], strict: false)
    }
    let (rtol, atol) = S.self == Float.self ? (2e-5, 2e-5) : (1e-11, 1e-11)
    var problems: [String] = []
    for step in 0...scenario.steps {
        if step == scenario.steps { reference.eval(); sync.eval() }
        let sizes = shardSizes(ranks: group.size, step: step)
        let total = sizes.reduce(0, +), offset = sizes[..<group.rank].reduce(0, +), mine = sizes[group.rank]
        let x: Tensor<S> = .randomNormal(shape: [total] + scenario.sampleShape, mean: 5, std: 3, using: &rng)
        let dy: Tensor<S> = .randomNormal(shape: [total] + scenario.sampleShape, using: &rng)
        let y = try reference(x), dx = try reference.backward(dy)
        let syncY = try sync(slice(x, offset, mine)), syncDx = try sync.backward(slice(dy, offset, mine))
        let at = "step \(step)"
        problems += compare(syncY, try slice(y, offset, mine), rtol, atol, "output, \(at)")
        problems += compare(syncDx, try slice(dx, offset, mine), rtol, atol, "input gradient, \(at)")
        problems += compare(sync.runningMean, reference.runningMean, rtol, atol, "running_mean, \(at)")
        problems += compare(sync.runningVar, reference.runningVar, rtol, atol, "running_var, \(at)")
        if sync.numBatchesTracked != reference.numBatchesTracked {
            problems.append("num_batches_tracked \(String(describing: sync.numBatchesTracked)), expected "
                            + "\(String(describing: reference.numBatchesTracked)), \(at)")
        }
    }
    for name in ["weight", "bias"] {
        let mine = sync.gradients()[name]!
        let summed = try group.allReducedSum(mine.scalars.map { Double($0) })
        let total = try Tensor<S>(shape: mine.shape, scalars: summed.map { S($0) })
        problems += compare(total, reference.gradients()[name], rtol, 10 * atol, "Σ over ranks of \(name) gradient")
    }
    return problems
}

/// The README's data-parallel example, verbatim: one data-parallel SGD step.
func dataParallelStep(group: MPIProcessGroup, learningRate: Float = 0.1) throws -> Sequential<Float> {
    // Every rank builds the same model and converts its BatchNorms to SyncBatchNorm.
    let model = Sequential<Float>(BatchNorm2d(numFeatures: 8), BatchNorm2d(numFeatures: 8, momentum: nil))
    _ = convertSyncBatchNorm(model, processGroup: group)

    // Each rank takes its own shard of the global batch (here: random data, 4 images of 5×5).
    var rng = SeededGenerator(seed: 7 + UInt64(group.rank))
    let x: Tensor<Float> = .randomNormal(shape: [4, 8, 5, 5], using: &rng)
    let y = try model(x)                             // one all-gather per SyncBatchNorm
    let dy: Tensor<Float> = .randomNormal(shape: y.shape, using: &rng)  // ∂L/∂y from the layers above
    _ = try model.backward(dy)                       // one all-reduce per SyncBatchNorm

    // Average the parameter gradients over the ranks, as DistributedDataParallel does, and step
    // each parameter in place with setParameter(named:to:). Walk the parameters in
    // namedParameters() order: a Dictionary's order differs between processes, and every rank
    // must all-reduce the same tensor at the same time.
    let gradients = model.gradients()
    for (name, weight) in model.namedParameters() {
        let sum = try group.allReducedSum(gradients[name]!.scalars)
        try model.setParameter(named: name, to: Tensor(shape: weight.shape, scalars: zip(weight.scalars, sum).map { w, g in
            w - learningRate * g / Float(group.size)
        }))
    }
    model.zeroGrad()
    return model
}

/// Runs the example and checks that every rank ends with the same parameters and buffers.
/// Buffers (running statistics) come from the all-gather and a merge in rank order, so they are
/// bitwise equal. Parameters are only equal to rounding: `MPI_Allreduce` may add the ranks'
/// gradients in a different order on each rank (Open MPI's recursive doubling does).
func checkDataParallelStep(_ group: MPIProcessGroup) throws -> [String] {
    let model = try dataParallelStep(group: group)
    let parameters = Set(model.namedParameters().map(\.name))
    let state = model.stateDict()
    var problems: [String] = []
    for name in state.keys.sorted() {
        let mine = state[name]!.scalars.map { Double($0) }
        let all = try group.allGather(mine)
        for rank in 0..<group.size {
            let theirs = Array(all[rank * mine.count..<(rank + 1) * mine.count])
            let worst = zip(mine, theirs).map { abs($0 - $1) / max(abs($0), 1e-3) }.max() ?? 0
            if parameters.contains(name) ? worst > 1e-6 : theirs != mine {
                problems.append("\(name) differs between this rank and rank \(rank) (relative \(worst))")
            }
        }
    }
    return problems
}

/// Channel, dtype and input mismatches: every rank throws the expected error, nobody hangs,
/// and the group still works afterwards.
func checkMismatches(_ group: any ProcessGroup) throws -> [String] {
    var problems: [String] = []
    let last = group.size - 1
    func expect(_ name: String, _ matches: (NormError) -> Bool, _ body: () throws -> Void) {
        do {
            try body()
            problems.append("\(name): did not throw")
        } catch let error as NormError {
            if !matches(error) { problems.append("\(name): unexpected error \(error)") }
        } catch {
            problems.append("\(name): non-NormError \(error)")
        }
    }
    let channels = group.rank == 0 ? 4 : 3
    let layer = SyncBatchNorm<Double>(numFeatures: channels, processGroup: group)
    expect("num_features 4 on rank 0, 3 elsewhere", {
        guard case let .rankMismatch(_, field, _, _, _) = $0 else { return false }
        return field == "num_features"
    }) { _ = try layer(Tensor(repeating: 1, shape: [2, channels])) }
    if layer.numBatchesTracked != 0 { problems.append("state changed after a mismatch") }

    expect("Float on rank 0, Double elsewhere", {
        guard case let .rankMismatch(_, field, _, _, _) = $0 else { return false }
        return field == "dtype"
    }) {
        if group.rank == 0 {
            _ = try SyncBatchNorm<Float>(numFeatures: 2, processGroup: group)(Tensor(repeating: 1, shape: [2, 2]))
        } else {
            _ = try SyncBatchNorm<Double>(numFeatures: 2, processGroup: group)(Tensor(repeating: 1, shape: [2, 2]))
        }
    }

    let shared = SyncBatchNorm<Float>(numFeatures: 2, processGroup: group)
    expect("bad input on the last rank", {
        group.rank == last ? $0 == .wrongChannelCount(layer: "SyncBatchNorm", expected: 2, actual: 5)
            : $0 == .peerRankFailed(layer: "SyncBatchNorm", rank: last)
    }) { _ = try shared(Tensor(repeating: 1, shape: [2, group.rank == last ? 5 : 2])) }

    _ = try shared(Tensor(repeating: Float(group.rank), shape: [2, 2]))
    let gradients = shared.gradients()
    expect("bad upstream gradient on rank 0", {
        group.rank == 0 ? $0 == .gradientShapeMismatch(expected: [2, 2], actual: [1, 2])
            : $0 == .peerRankFailed(layer: "SyncBatchNorm", rank: 0)
    }) { _ = try shared.backward(Tensor(repeating: 1, shape: [group.rank == 0 ? 1 : 2, 2])) }
    if shared.gradients() != gradients { problems.append("gradients changed after a failed backward") }

    try group.barrier()
    let sum = try group.allReducedSum([1.0])
    if sum != [Double(group.size)] { problems.append("all-reduce after the failures gave \(sum)") }
    return problems
}

/// Raw collectives whose ranks disagree: the header all-reduce that precedes every payload makes
/// every rank throw `collectiveMismatch` (MPI itself would hand one rank wrong data, or hang), and
/// the group stays usable.
func checkRawMismatches(_ group: MPIProcessGroup) throws -> [String] {
    var problems: [String] = []
    func expectMismatch(_ name: String, _ detail: String, _ body: () throws -> Void) {
        do {
            try body()
            problems.append("\(name): did not throw")
        } catch let NormError.collectiveMismatch(_, _, actual) {
            if !actual.contains(detail) { problems.append("\(name): the message says \"\(actual)\", not \"\(detail)\"") }
        } catch {
            problems.append("\(name): threw \(error)")
        }
    }
    let last = group.size - 1
    expectMismatch("allReducedSum of 3 values on the last rank, 2 elsewhere", "with counts from 2 to 3") {
        _ = try group.allReducedSum([Double](repeating: 1, count: group.rank == last ? 3 : 2))
    }
    expectMismatch("allGather of 1 value on rank 0, 1000 elsewhere", "with counts from 1 to 1000") {
        _ = try group.allGather([Float](repeating: 1, count: group.rank == 0 ? 1 : 1000))
    }
    expectMismatch("allGather of Float on rank 0, Double elsewhere", "with float32 and float64 values") {
        if group.rank == 0 { _ = try group.allGather([Float(1)]) } else { _ = try group.allGather([1.0]) }
    }
    expectMismatch("barrier on the last rank, allReducedSum elsewhere", "the ranks called allReduceSum and barrier") {
        if group.rank == last { try group.barrier() } else { _ = try group.allReducedSum([1.0]) }
    }
    do {
        _ = try group.subgroup(ranks: group.rank == 0 ? [0] : [1])
        problems.append("subgroup with different lists did not throw")
    } catch let error as NormError {
        let message = error.description
        if !message.contains("expected ranks [") || message.contains("on every rank on every rank") {
            problems.append("subgroup mismatch message: \(message)")
        }
    }
    let sum = try group.allReducedSum([1.0, 2.0])
    if sum != [Double(group.size), Double(2 * group.size)] { problems.append("all-reduce after the mismatches gave \(sum)") }
    if group.isBroken { problems.append("mismatches broke the group") }
    return problems
}

/// Even and odd ranks form subgroups; each sums only its own ranks.
func checkSubgroups(_ group: any ProcessGroup) throws -> [String] {
    let evens = Array(stride(from: 0, to: group.size, by: 2))
    let odds = Array(stride(from: 1, to: group.size, by: 2))
    let even = try group.subgroup(ranks: evens)
    let odd = try group.subgroup(ranks: odds)
    guard let mine = even ?? odd, (even == nil) != (odd == nil) else { return ["rank in neither or both subgroups"] }
    let members = group.rank % 2 == 0 ? evens : odds
    let sum = try mine.allReducedSum([Double(group.rank)])
    var problems: [String] = []
    if mine.size != members.count || mine.rank != members.firstIndex(of: group.rank) {
        problems.append("subgroup rank \(mine.rank) of \(mine.size), expected \(members.firstIndex(of: group.rank)!) of \(members.count)")
    }
    if sum != [Double(members.reduce(0, +))] { problems.append("subgroup sum \(sum), expected \(members.reduce(0, +))") }
    do {
        _ = try group.subgroup(ranks: group.rank == 0 ? [0] : [1])
        problems.append("subgroup with different lists did not throw")
    } catch NormError.collectiveMismatch {
    }
    return problems
}

/// Drives the one C-call layer into its failure path: a negative count is MPI_ERR_COUNT.
func checkErrorPath(_ group: MPIProcessGroup) throws -> [String] {
    var value = 1.0
    do {
        try MPIRuntime.call("MPI_Allreduce") {
            MPI_Allreduce(normkit_mpi_in_place(), &value, -1, normkit_mpi_double(), normkit_mpi_sum(), group.communicator)
        }
        return ["MPI_Allreduce with count -1 did not fail"]
    } catch let NormError.mpiError(function, code, message) {
        guard function == "MPI_Allreduce", code != 0, !message.isEmpty else {
            return ["unexpected mpiError(\(function), \(code), \(message))"]
        }
        return []
    }
}

func slice<S: NormScalar>(_ tensor: Tensor<S>, _ offset: Int, _ count: Int) throws -> Tensor<S> {
    let sample = tensor.shape.dropFirst().reduce(1, *)
    return try Tensor(shape: [count] + tensor.shape.dropFirst(),
                      scalars: Array(tensor.scalars[offset * sample..<(offset + count) * sample]))
}

/// Elementwise |a − e| ≤ atol + rtol·|e| (NaN matches NaN); the first mismatch, if any.
func compare<S: NormScalar>(_ actual: Tensor<S>?, _ expected: Tensor<S>?, _ rtol: Double, _ atol: Double,
                            _ what: String) -> [String] {
    guard let actual, let expected else { return actual == nil && expected == nil ? [] : ["\(what): one side is nil"] }
    guard actual.shape == expected.shape else { return ["\(what): shape \(actual.shape), expected \(expected.shape)"] }
    for (i, (a, e)) in zip(actual.scalars, expected.scalars).enumerated() {
        let a = Double(a), e = Double(e)
        if (a.isNaN && e.isNaN) || abs(a - e) <= atol + rtol * abs(e) { continue }
        return ["\(what): element \(i) is \(a), expected \(e)"]
    }
    return []
}

#endif
