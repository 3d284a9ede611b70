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
        repeat {
            for index in phases.indices {
                let start = monotonicSeconds()
                try naming(cases[index]) { try phases[index]() }
                samplers[index].record(monotonicSeconds() - start)
            }
        } while !haveEnoughRounds(samplers)
        // Every case records a sample each round once warmed up, so their last `rounds` samples
        // come from the same rounds.
        let rounds = samplers.map(\.samples.count).min() ?? 0
        let first = samplers[0].samples.suffix(rounds)
        return samplers.map { sampler in
            (sampler, Sampler.median(of: zip(sampler.samples.suffix(rounds), first).map { $0 / $1 }))
        }
    }

    /// Whether the rounds so far suffice: every case has its minimum of samples, and one case (the
    /// slowest, under `--min-time`) has all its policy asks for. Waiting for every case to have
    /// `--min-time` of its own calls would run the slowest case that many times longer than the
    /// fastest (a 16 µs case beside a 5 ms one at `--min-time 1`: 300 s), where the paired ratio
    /// needs only the same rounds for all.
    static func haveEnoughRounds(_ samplers: [Sampler]) -> Bool {
        samplers.allSatisfy(\.hasMinimumSamples) && samplers.contains(where: \.isDone)
    }

    /// `body`'s result, or its error as a ``BenchFailure`` that names the case.
    private static func naming<T>(_ benchCase: BenchCase, _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw BenchFailure(caseString: benchCase.canonical, error: error) }
    }
}
