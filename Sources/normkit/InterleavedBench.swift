/// `normkit bench --interleave`: the cases take turns, one call of each per round, and each case
/// is reported against the first, round by round.
///
/// On a shared machine the memory bandwidth a process gets drifts by 20–40% over seconds, so two
/// cases timed one after the other can differ by more than the change being measured. Taking
/// turns puts both under the same drift, and the median of the per-round ratios t_k / t_0 keeps
/// what is left of it out: differences of a few percent become visible (Double against Float,
/// one layout against the other, a kernel change against its predecessor behind a switch).
enum InterleavedBench {
    /// Each case's samples, and the median over rounds of its time over the first case's time
    /// (rounds where every case is past its warm-up).
    static func measure(_ cases: [BenchCase], policy: TimingPolicy) throws -> [(sampler: Sampler, pairedRatio: Double)] {
        // A cache per case: each keeps its own tensors alive for the whole run.
        let phases = try cases.map { benchCase in
            try naming(benchCase) { try LayerBench.prepare(benchCase, inputs: InputCache()) }
        }
        var samplers = cases.map { _ in Sampler(policy) }
        var durations = cases.map { _ in [Double]() }
        repeat {
            for index in phases.indices {
                let start = monotonicSeconds()
                try naming(cases[index]) { try phases[index]() }
                let elapsed = monotonicSeconds() - start
                samplers[index].record(elapsed)
                durations[index].append(elapsed)
            }
        } while !samplers.allSatisfy(\.isDone)
        let rounds = durations[0].count
        let firstSampledRound = samplers.map { rounds - $0.samples.count }.max() ?? 0
        return zip(samplers, durations).map { sampler, times in
            let ratios = (firstSampledRound..<rounds).map { times[$0] / durations[0][$0] }
            return (sampler, Sampler.median(of: ratios))
        }
    }

    /// `body`'s result, or its error as a ``BenchFailure`` that names the case.
    private static func naming<T>(_ benchCase: BenchCase, _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw BenchFailure(caseString: benchCase.canonical, error: error) }
    }
}
