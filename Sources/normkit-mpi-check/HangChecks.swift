#if MPI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NormKit
import NormKitMPI

// `normkit-mpi-check hangs`: the misuses that used to hang every rank (issue #7, part B), each of
// which must now end on every rank with a typed error, in bounded time. Each scenario runs on a
// fresh `MPIProcessGroup.world(timeout:)` with a short timeout; a second group with a long
// timeout (`control`) lines the ranks up between scenarios and collects the results.

/// One misuse: what every rank runs, and the error each rank must end with.
struct HangScenario: Sendable {
    var name: String
    /// Runs the misuse on `group`; must throw.
    var body: @Sendable (MPIProcessGroup) throws -> Void
    /// Whether `error` is the one rank `rank` of `size` must throw, given the group's timeout.
    var expected: @Sendable (_ error: NormError, _ rank: Int, _ size: Int, _ timeout: Double) -> Bool
    /// The ranks that must wait for the timeout (the others fail at once).
    var timesOut: @Sendable (_ rank: Int, _ size: Int) -> Bool = { _, _ in false }
}

/// A SyncBatchNorm training step as a data-parallel program makes it: forward, backward, then
/// the gradient all-reduce of every parameter (as in the README's data-parallel step).
func dataParallelStep(_ layer: SyncBatchNorm<Float>, _ x: Tensor<Float>, _ dy: Tensor<Float>,
                      group: any ProcessGroup) throws {
    _ = try layer(x)
    _ = try layer.backward(dy)
    let gradients = layer.gradients()
    for (name, _) in layer.namedParameters() {
        _ = try group.allReducedSum(gradients[name]!.scalars)
    }
}

func hangInputs(_ group: any ProcessGroup, channels: Int = 4) -> (x: Tensor<Float>, dy: Tensor<Float>) {
    var rng = SeededGenerator(seed: 40 + UInt64(group.rank))
    return (.randomNormal(shape: [2, channels, 3, 3], using: &rng), .randomNormal(shape: [2, 4, 3, 3], using: &rng))
}

func isMismatch(_ error: NormError, _ operation: String) -> Bool {
    guard case let .collectiveMismatch(actualOperation, _, _) = error else { return false }
    return actualOperation == operation
}

let hangScenarios: [HangScenario] = [
    HangScenario(
        name: "the last rank in eval mode while the others train",
        body: { group in
            let layer = SyncBatchNorm<Float>(numFeatures: 4, processGroup: group)
            if group.rank == group.size - 1 { layer.eval() }
            let (x, dy) = hangInputs(group)
            try dataParallelStep(layer, x, dy, group: group)
        },
        // The training ranks' forward all-gather meets the eval rank's gradient all-reduce.
        expected: { error, rank, size, _ in isMismatch(error, rank == size - 1 ? "allReduceSum" : "allGather") }),
    HangScenario(
        name: "the last rank throws in a layer before the SyncBatchNorm",
        body: { group in
            let norm = GroupNorm<Float>(numGroups: 2, numChannels: 4)
            let layer = SyncBatchNorm<Float>(numFeatures: 4, processGroup: group)
            // The last rank's input has 6 channels: its GroupNorm throws, and it never reaches
            // the SyncBatchNorm, whose all-gather the other ranks wait in.
            let (x, dy) = hangInputs(group, channels: group.rank == group.size - 1 ? 6 : 4)
            _ = try layer(try norm(x))
            _ = try layer.backward(dy)
        },
        expected: { error, rank, size, timeout in
            if rank == size - 1 { return error == .wrongChannelCount(layer: "GroupNorm", expected: 4, actual: 6) }
            return error == .collectiveTimeout(operation: "allGather", rank: rank, timeout: timeout, arrived: [], size: size)
        },
        timesOut: { rank, size in rank < size - 1 }),
    HangScenario(
        name: "rank 0 runs backward while the others run the next forward",
        body: { group in
            let layer = SyncBatchNorm<Float>(numFeatures: 4, processGroup: group)
            let (x, dy) = hangInputs(group)
            _ = try layer(x)
            _ = try layer.backward(dy)
            if group.rank == 0 { _ = try layer.backward(dy) } else { _ = try layer(x) }
        },
        expected: { error, rank, _, _ in isMismatch(error, rank == 0 ? "allReduceSum" : "allGather") }),
    HangScenario(
        name: "rank 0 runs backward before any forward while the others run forward",
        body: { group in
            let layer = SyncBatchNorm<Float>(numFeatures: 4, processGroup: group)
            let (x, dy) = hangInputs(group)
            if group.rank == 0 { _ = try layer.backward(dy) } else { _ = try layer(x) }
        },
        // Rank 0's failure frame (an all-reduce) meets the others' all-gather: it reports both.
        expected: { error, rank, _, _ in
            guard rank == 0 else { return isMismatch(error, "allGather") }
            guard case let .unreportedLocalFailure(local, collective) = error else { return false }
            return local == .backwardBeforeForward(layer: "SyncBatchNorm") && isMismatch(collective, "allReduceSum")
        }),
]

/// Seconds of CPU time (user + system) this process has used.
func processCPUSeconds() -> Double {
    var usage = rusage()
    #if os(Linux)
    let who = __rusage_who_t(RUSAGE_SELF.rawValue)
    #else
    let who = RUSAGE_SELF
    #endif
    guard getrusage(who, &usage) == 0 else { return 0 }
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Runs every hang scenario; returns the number of failures over all ranks, as `runMPIChecks`.
func runHangChecks(timeout: Double) -> Int {
    let control: MPIProcessGroup
    do {
        control = try MPIProcessGroup.world(timeout: 120)
    } catch {
        print("MPI could not start: \(error)")
        return 1
    }
    var local = 0
    func fail(_ line: String) {
        report(control, "FAIL \(line)")
        local += 1
    }
    for scenario in hangScenarios {
        let name = "hang: \(scenario.name)"
        do {
            let group = try MPIProcessGroup.world(timeout: timeout)
            let cpuStart = processCPUSeconds()
            let start = Date()
            var thrown: (any Error)?
            do {
                try scenario.body(group)
            } catch {
                thrown = error
            }
            let seconds = Date().timeIntervalSince(start), cpu = processCPUSeconds() - cpuStart
            let waits = scenario.timesOut(group.rank, group.size)
            let timing = String(format: "%.3f s, CPU %.3f s", seconds, cpu)
            if let error = thrown as? NormError, scenario.expected(error, group.rank, group.size, timeout) {
                report(control, "ok   \(name): \(error.caseName) after \(timing)")
            } else {
                fail("\(name): \(thrown.map { "threw \($0)" } ?? "did not throw") after \(timing)")
            }
            // Bounded: a timeout takes the group's timeout plus little; anything else, far less.
            if waits ? !(seconds >= timeout && seconds < timeout + 2) : seconds >= timeout / 2 {
                fail("\(name): ended after \(timing), timeout \(timeout) s")
            }
            // Waiting sleeps between polls: far from the busy spin of a blocking collective.
            if waits && cpu > 0.5 * seconds { fail("\(name): waiting used \(timing)") }
            if waits {
                // The group is broken now, and says so at once.
                let late = Date()
                do {
                    try group.barrier()
                    fail("\(name): a collective on the broken group did not throw")
                } catch let NormError.processGroupBroken(cause) where cause.contains("abort") {
                } catch {
                    fail("\(name): a collective on the broken group threw \(error)")
                }
                if Date().timeIntervalSince(late) > 0.1 { fail("\(name): the broken group took time to say so") }
            }
            // Every rank's time to failure, on rank 0.
            try control.barrier()
            let times = try control.allGather([seconds])
            if control.rank == 0 {
                print("time to failure on \(control.size) ranks, \(scenario.name): "
                      + times.map { String(format: "%.3f s", $0) }.joined(separator: ", ") + " (group timeout \(timeout) s)")
                fflush(nil)
            }
        } catch {
            fail("\(name): the check itself threw \(error)")
        }
    }
    let total: [Double]
    do {
        total = try control.allReducedSum([Double(local)])
    } catch {
        report(control, "FAIL final all-reduce: \(error)")
        return max(local, 1)
    }
    if control.rank == 0 {
        print(total[0] == 0 ? "PASS: all hang checks on \(control.size) ranks"
              : "FAILED: \(Int(total[0])) failures over \(control.size) ranks")
    }
    return Int(total[0])
}

extension NormError {
    /// The case's name, for the report.
    var caseName: String { String("\(Mirror(reflecting: self).children.first?.label ?? "\(self)")") }
}

/// `normkit-mpi-check kill-rank`: the last rank kills itself with SIGKILL while the others wait in
/// a barrier with a 30 s timeout. `mpirun` must end the whole job long before that timeout;
/// scripts/mpi-tests.sh measures how long it takes from the line this prints.
func runKillRank() -> Int {
    let group: MPIProcessGroup
    do {
        group = try MPIProcessGroup.world(timeout: 30)
        try group.barrier()
    } catch {
        print("FAIL kill-rank could not start: \(error)")
        return 1
    }
    do {
        if group.rank == group.size - 1 {
            Thread.sleep(forTimeInterval: 0.3)  // the others are in the barrier by now
            report(group, String(format: "killing myself with SIGKILL at %.3f", Date().timeIntervalSince1970))
            kill(getpid(), SIGKILL)
        }
        try group.barrier()
        report(group, "FAIL the barrier returned although rank \(group.size - 1) was killed")
    } catch {
        report(group, "FAIL threw \(error) before mpirun ended the job")
    }
    return 1
}
/// `normkit-mpi-check abort`: what the README tells a user to do after a timeout. The last rank
/// skips the step (it waits in a barrier of another group, with a 30 s timeout); the others run
/// the README's step, time out after `timeout` seconds, print the error and call
/// `MPIProcessGroup.abort(code: 3)`, which must end every rank: `mpirun` exits with status 3, long
/// before the 30 s.
func runAbortAfterTimeout(timeout: Double) -> Int {
    let patient: MPIProcessGroup, group: MPIProcessGroup
    do {
        patient = try MPIProcessGroup.world(timeout: 30)
        group = try MPIProcessGroup.world(timeout: timeout)
    } catch {
        print("FAIL abort could not start: \(error)")
        return 1
    }
    do {
        if group.rank == group.size - 1 {
            try patient.barrier()
        } else {
            let model = Sequential<Float>(BatchNorm2d(numFeatures: 4))
            _ = convertSyncBatchNorm(model, processGroup: group)
            let (x, dy) = hangInputs(group)
            report(group, String(format: "starting the README's step at %.3f", Date().timeIntervalSince1970))
            readmeStep(model: model, x: x, dyFromTheLayersAbove: dy, group: group)
        }
        report(group, "FAIL the step returned")
    } catch {
        report(group, "FAIL threw \(error)")
    }
    return 1
}

/// The README's failure handling, verbatim inside the function.
func readmeStep(model: Sequential<Float>, x: Tensor<Float>, dyFromTheLayersAbove: Tensor<Float>,
                group: MPIProcessGroup) {
    do {
        _ = try model(x)
        _ = try model.backward(dyFromTheLayersAbove)
    } catch {
        print("rank \(group.rank): \(error)")
        MPIProcessGroup.abort(code: 3)   // MPI_Abort: mpirun ends every rank and exits with status 3
    }
}
#endif
