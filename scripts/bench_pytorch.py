#!/usr/bin/env python3
"""NormKit and PyTorch side by side, in one run, on the same cases, threads and timed phase.

Runs each case (the default suite, whose case strings `normkit bench --list` gives, or the
--case strings) through `normkit bench --json` and in PyTorch on the CPU, the two taking turns
(--rounds, 2 by default: normkit, PyTorch, normkit, PyTorch), and prints a Markdown table:
case, NormKit median, PyTorch median, speedup (PyTorch time / NormKit time), NormKit's share of
the memory roofline; then the geometric-mean speedup. The distributed cases (collective,
syncbatchnorm2d) have no PyTorch counterpart on the CPU and show NormKit's numbers alone.

Usage (torch is never installed in CI; run this by hand):

    swift build -c release --product normkit
    /work/torchenv/bin/python scripts/bench_pytorch.py                       # default suite
    /work/torchenv/bin/python scripts/bench_pytorch.py --threads 1 \\
        --case "layer=layernorm,shape=8192x1024,mode=backward"               # chosen cases
    /work/torchenv/bin/python scripts/bench_pytorch.py --sweep size          # 16 kB ... 256 MB
    /work/torchenv/bin/python scripts/bench_pytorch.py --sweep threads       # 1 and 2 threads
    /work/torchenv/bin/python scripts/bench_pytorch.py --markdown results.md # also write a file

Options: --normkit PATH (default .build/release/normkit), --threads N (default: all cores),
--case STRING (repeatable, or several joined by ';'), --min-time SECONDS (default 0.3, per case
and library, split over the turns), --rounds N (default 2), --sweep size|threads, --markdown
FILE, --torch-default-malloc, --bare-pass.

Bare pass (--bare-pass, the suite and --case runs): normkit also times each case's bare pass,
its floor bytes moved with nothing computed (a copy of x into y, or dx = x XOR dy), on the same
threads and reused buffers (see Sources/normkit/BarePass.swift). The table then shows each
library's time as a share of it, and the ceiling: PyTorch's time over the bare pass, the most
any kernel that reads and writes those bytes could gain on PyTorch on this machine. Where the
least work reads the inputs twice (BatchNorm's training forward and backward over channels-last
or (N, C) input: its sums need every row before the first output), the bare pass reads them
whole first, and its time is marked "(2 sweeps)".

Turns: the memory bandwidth a process gets on a shared machine drifts by 20–40% over minutes.
Each library's time is the median of its turns on the case, taken seconds apart, so that the
drift falls on both alike; the copy bandwidth is measured once, in the first normkit run.

Allocation: NormKit raises glibc's mmap threshold in its process so that large outputs reuse
heap memory instead of page-faulting fresh mmap pages on every call. The script does the same
for PyTorch (mallopt through ctypes) so that the table compares kernels, not allocators.
With NORMKIT_HUGE_PAGES=1 in the environment NormKit asks for transparent huge pages for its
arrays of 4 MiB and more, and the script sets PyTorch's own switch for the same,
THP_MEM_ALLOC_ENABLE=1. --torch-default-malloc shows PyTorch as it runs out of the box, where
every output above 32 MiB costs about 0.4 ms per MiB in page faults.

What is timed, in both libraries: forward = a training-mode forward (PyTorch under
torch.no_grad()); eval = an eval-mode forward; backward = the backward pass alone, after one
training forward outside the timer (PyTorch: y.backward(dy, retain_graph=True), with the
gradients reset to None outside the timer so that nothing accumulates into x.grad). Each case
warms up (one call at least, and 0.05 s), then times single calls until 0.3 s and at least 5
calls have been timed, and reports the median. nhwc means torch.channels_last
(channels_last_3d for 5-D), for x and dy alike. PyTorch's times include its Python call overhead
(a few microseconds), which matters only for the smallest cases.

The machine must be quiet: other processes on the cores stall PyTorch's OpenMP threads by
milliseconds per call. The script watches /proc/stat and marks with † every case during which
other processes took more than 5% of the CPUs; rerun those with --case.
"""

import argparse
import ctypes
import glob
import json
import math
import os
import platform
import subprocess
import sys
import time

# With NORMKIT_HUGE_PAGES=1 NormKit asks for transparent huge pages for its large arrays (HugePages
# in Sources/NormKit/Kernels/MemoryTuning.swift); PyTorch then gets its own switch for the same,
# THP_MEM_ALLOC_ENABLE=1. PyTorch reads it once, at its first allocation: it is decided here,
# before torch is imported.
NORMKIT_HUGE_PAGES = os.environ.get("NORMKIT_HUGE_PAGES") == "1"
TORCH_HUGE_PAGES = NORMKIT_HUGE_PAGES and "--torch-default-malloc" not in sys.argv
if TORCH_HUGE_PAGES:
    os.environ["THP_MEM_ALLOC_ENABLE"] = "1"

import torch
import torch.nn as nn

WARMUP_SECONDS = 0.05
MINIMUM_SAMPLES = 5
MAXIMUM_SAMPLES = 100_000
DISTRIBUTED_LAYERS = {"collective", "syncbatchnorm2d"}


# --- Cases --------------------------------------------------------------------------------------

def parse_case(text):
    """A case string as a dict, with normkit's defaults (normkit has already validated it)."""
    fields = dict(pair.split("=", 1) for pair in text.split(",") if pair)
    return {
        "layer": fields["layer"],
        "shape": [int(size) for size in fields.get("shape", "8").split("x")],
        "mode": fields.get("mode", "forward"),
        "layout": fields.get("layout", "nchw"),
        "dtype": fields.get("dtype", "float32"),
        "groups": int(fields.get("groups", "32")),
    }


def make_module(case):
    shape, layer = case["shape"], case["layer"]
    constructors = {
        "batchnorm1d": lambda: nn.BatchNorm1d(shape[1]),
        "batchnorm2d": lambda: nn.BatchNorm2d(shape[1]),
        "batchnorm3d": lambda: nn.BatchNorm3d(shape[1]),
        "instancenorm1d": lambda: nn.InstanceNorm1d(shape[1], affine=True),
        "instancenorm2d": lambda: nn.InstanceNorm2d(shape[1], affine=True),
        "instancenorm3d": lambda: nn.InstanceNorm3d(shape[1], affine=True),
        "layernorm": lambda: nn.LayerNorm(shape[-1]),
        "rmsnorm": lambda: nn.RMSNorm(shape[-1]),
        "groupnorm": lambda: nn.GroupNorm(case["groups"], shape[1]),
    }
    # float16/bfloat16 cases are the mixed path, as in NormKit: a float32 module on half input.
    module_dtype = torch.float64 if case["dtype"] == "float64" else torch.float32
    return constructors[layer]().to(module_dtype)


def random_tensor(case, seed):
    generator = torch.Generator().manual_seed(seed)
    tensor = torch.randn(case["shape"], generator=generator).to(getattr(torch, case["dtype"]))
    if case["layout"] == "nhwc":
        fmt = torch.channels_last if len(case["shape"]) == 4 else torch.channels_last_3d
        tensor = tensor.contiguous(memory_format=fmt)
    return tensor


# --- Timing -------------------------------------------------------------------------------------

def measure(body, min_time, before=None):
    """Median seconds of `body()`, under normkit's policy; `before()` runs untimed before each call."""
    samples, warmup_calls, warmup_time, sampled_time = [], 0, 0.0, 0.0
    while True:
        if before is not None:
            before()
        start = time.perf_counter()
        body()
        elapsed = time.perf_counter() - start
        if warmup_calls < 1 or warmup_time < WARMUP_SECONDS:
            warmup_calls += 1
            warmup_time += elapsed
            continue
        samples.append(elapsed)
        sampled_time += elapsed
        if len(samples) >= MAXIMUM_SAMPLES or (len(samples) >= MINIMUM_SAMPLES and sampled_time >= min_time):
            break
    return median(samples)


def torch_median(case_string, threads, min_time):
    """PyTorch's median seconds for one case; None for the distributed cases."""
    case = parse_case(case_string)
    if case["layer"] in DISTRIBUTED_LAYERS:
        return None
    torch.set_num_threads(threads)
    if case["layer"] == "memoryformat":
        return conversion_median(case, min_time)
    module = make_module(case)
    x = random_tensor(case, seed=1)
    if case["mode"] in ("forward", "eval"):
        module.train(case["mode"] == "forward")

        def forward():
            with torch.no_grad():
                module(x)
        return measure(forward, min_time)

    dy = random_tensor(case, seed=2)
    module.train()
    x.requires_grad_(True)
    y = module(x)

    def reset_gradients():
        x.grad = None
        module.zero_grad(set_to_none=True)
    return measure(lambda: y.backward(dy, retain_graph=True), min_time, before=reset_gradients)


def conversion_median(case, min_time):
    """`x.contiguous(memory_format=…)` into the format the case's layout names, x stored in the
    other (normkit's `layer=memoryformat`)."""
    source = dict(case, layout="nchw" if case["layout"] == "nhwc" else "nhwc")
    x = random_tensor(source, seed=1)
    channels_last = torch.channels_last if len(case["shape"]) == 4 else torch.channels_last_3d
    target = channels_last if case["layout"] == "nhwc" else torch.contiguous_format
    return measure(lambda: x.contiguous(memory_format=target), min_time)


# --- Other work on the machine -----------------------------------------------------------------

DISTURBED_SHARE = 0.05


class CpuWatch:
    """The share of all cores' time that processes other than this script and normkit took
    since the watch started. Other work on the cores makes PyTorch's OpenMP threads wait for each
    other (by a 4 ms scheduler tick per call) and slows NormKit's threads too. Read from /proc
    (Linux); None elsewhere."""

    def __init__(self, child=None):
        self.child = child
        self.start = self.now()

    def now(self):
        return time.monotonic(), machine_busy_seconds(), process_seconds("self") + process_seconds(self.child)

    def share(self):
        (wall, busy, own), (wall_now, busy_now, own_now) = self.start, self.now()
        if busy is None or busy_now is None or wall_now <= wall:
            return None
        return max(0.0, (busy_now - busy) - (own_now - own)) / ((wall_now - wall) * os.cpu_count())

    def restart(self):
        share, self.start = self.share(), self.now()
        return share


def machine_busy_seconds():
    try:
        with open("/proc/stat") as stat:
            user, nice, system, idle, iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_seconds(pid):
    """User + system CPU seconds of a live process (all its threads); 0 when unknown or gone."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tune_malloc_like_normkit():
    """Raises glibc's mmap and trim thresholds to 1 GiB in this process, as NormKit does in its
    own (Sources/NormKit/Kernels/MemoryTuning.swift). Without it every large PyTorch output is
    fresh mmap pages, page-faulted in on every call (measured: 21 ms instead of 3.3 ms for a
    16384x1024 LayerNorm forward), and the comparison measures the allocators, not the kernels.
    Returns whether glibc accepted both settings."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return libc.mallopt(m_mmap_threshold, 1 << 30) == 1 and libc.mallopt(m_trim_threshold, 1 << 30) == 1


# --- normkit and PyTorch --------------------------------------------------------------------------

def normkit_case(binary, case_string, threads, min_time, bandwidth=None, bare_pass=False):
    """normkit's JSON record of one case, with the share of the CPUs other work took meanwhile.
    `bandwidth` (GB/s) skips normkit's copy-bandwidth measurement; `bare_pass` times the case's
    bare pass too. Its progress line goes to stderr."""
    command = [binary, "bench", "--json", "--threads", str(threads), "--min-time", str(min_time), "--case", case_string]
    if bandwidth is not None:
        command += ["--bandwidth", repr(bandwidth)]
    if bare_pass:
        command += ["--bare-pass"]
    watch = CpuWatch()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        watch.child = process.pid
        watch.restart()
        records = [json.loads(line) for line in process.stdout if line.strip()]
        share = watch.share()
    if process.returncode != 0 or len(records) != 1:
        sys.exit(f"{' '.join(command)} failed with exit status {process.returncode}")
    return records[0], share


def default_suite(binary):
    listed = subprocess.run([binary, "bench", "--list"], stdout=subprocess.PIPE, text=True, check=True)
    return [line for line in listed.stdout.splitlines() if line.strip()]


def side_by_side(binary, case_strings, threads, min_time, rounds, bare_pass=False):
    """For each case: normkit's record, PyTorch's median (None for distributed cases), and the
    larger share of the CPUs that other work took while either library ran it.

    The two libraries take turns on each case, `rounds` times (normkit, PyTorch, normkit, …),
    each turn with min_time / rounds of timed calls, and each library's time is the median of its
    turns: the memory bandwidth this shared machine gives a process drifts by 20–40% over
    minutes, and timing one library's whole suite before the other's put that drift between
    them. With `bare_pass`, each normkit turn also times the case's bare pass, and its time is the
    median of the turns' too."""
    turn_time = min_time / rounds
    bandwidth = None
    results = []
    for index, case_string in enumerate(case_strings):
        label = case_string
        records, torch_times, shares = [], [], []
        for turn in range(rounds):
            progress(f"[{index + 1}/{len(case_strings)}] {label}, turn {turn + 1} of {rounds}…")
            record, share = normkit_case(binary, case_string, threads, turn_time, bandwidth, bare_pass)
            bandwidth, label = record["bandwidth_gbps"], record["label"]
            records.append(record)
            shares.append(share)
            watch = CpuWatch()
            torch_times.append(torch_median(record["case"], threads, turn_time))
            shares.append(watch.share())
        record = dict(records[0])
        record["median_s"] = median([r["median_s"] for r in records])
        record["samples"] = sum(r["samples"] for r in records)
        floor = record.get("floor_bytes")
        if floor:
            record["gbps"] = floor / record["median_s"] / 1e9
            record["roofline_pct"] = 100 * (floor / (record["bandwidth_gbps"] * 1e9)) / record["median_s"]
        if record.get("bare_pass_s") is not None:
            record["bare_pass_s"] = median([r["bare_pass_s"] for r in records])
            record["bare_pass_pct"] = 100 * record["bare_pass_s"] / record["median_s"]
        if record.get("baseline_s") is not None:
            record["baseline_s"] = median([r["baseline_s"] for r in records])
            record["extra_s"] = record["median_s"] - record["baseline_s"]
        torch_seconds = None if torch_times[0] is None else median(torch_times)
        known = [share for share in shares if share is not None]
        results.append({"record": record, "torch": torch_seconds, "other_load": max(known, default=None)})
    progress("")
    return results


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def progress(text):
    """One line on stderr, rewritten in place, when stderr is a terminal (as normkit does)."""
    if sys.stderr.isatty():
        print("\r\033[K" + text, end="", file=sys.stderr, flush=True)


# --- Formatting ---------------------------------------------------------------------------------

def duration(seconds):
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.3f} s"


def byte_count(count):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def speedup(result):
    return result["torch"] / result["record"]["median_s"] if result["torch"] else None


def ratio_text(value):
    return f"{value:.2f}×" if value else "—"


def percent(value):
    return "—" if value is None else f"{value:.0f}%"


def disturbed(result):
    return result["other_load"] is not None and result["other_load"] > DISTURBED_SHARE


def case_name(result):
    """The case's label, marked † when other work disturbed its timing."""
    return result["record"]["label"] + (" †" if disturbed(result) else "")


def disturbance_note(results):
    marked = [result for result in results if disturbed(result)]
    if not marked:
        return ""
    worst = max(result["other_load"] for result in marked)
    return (f"\n\n† {len(marked)} of {len(results)} cases ran while other processes took more than "
            f"{DISTURBED_SHARE:.0%} of the CPUs (up to {worst:.0%}); their times are unreliable. "
            f"Rerun them with --case on a quiet machine.")


def suite_report(results, bare_pass=False):
    """The side-by-side table and the geometric-mean speedup. With `bare_pass`, four more columns:
    the bare pass's time, each library's share of it (bare pass time / its time), and the
    ceiling, PyTorch's time over the bare pass: no kernel that moves the case's floor bytes can be
    faster than PyTorch by more."""
    rows = []
    for result in results:
        record = result["record"]
        name = case_name(result)
        if record.get("extra_s") is not None:
            name += f" (BatchNorm2d alone {duration(record['baseline_s'])}, sync adds {duration(record['extra_s'])})"
        row = [name, duration(record["median_s"]), duration(result["torch"]), ratio_text(speedup(result)),
               percent(record.get("roofline_pct"))]
        if bare_pass:
            bare = record.get("bare_pass_s")
            sweeps = " (2 sweeps)" if record.get("bare_pass_sweeps") == 2 else ""
            row += [duration(bare) + (sweeps if bare else ""), percent(record.get("bare_pass_pct")),
                    percent(100 * bare / result["torch"] if bare and result["torch"] else None),
                    ratio_text(result["torch"] / bare if bare and result["torch"] else None)]
        rows.append(row)
    header = ["case", "NormKit", "PyTorch", "speedup", "NormKit % roofline"]
    if bare_pass:
        header += ["bare pass", "NormKit % bare", "PyTorch % bare", "ceiling"]
    table = markdown_table(header, rows)
    speedups = [speedup(result) for result in results if speedup(result)]
    summary = (f"Geometric-mean speedup (PyTorch time / NormKit time) over {len(speedups)} cases: "
               f"{geometric_mean(speedups):.2f}×")
    slower = [case_name(result) for result in results if (speedup(result) or 2) < 1]
    if slower:
        summary += "\n\nNormKit slower than PyTorch: " + "; ".join(slower)
    return table + "\n\n" + summary + disturbance_note(results)


def size_sweep_cases():
    """batchnorm2d nchw forward and layernorm forward, tensors of 16 kB to 256 MB in ×4 steps."""
    cases = []
    for step in range(8):
        side = 4 << step                      # 8x32xSxS float32: 16 kB · 4^step
        cases.append(f"layer=batchnorm2d,shape=8x32x{side}x{side},mode=forward,layout=nchw")
    for step in range(8):
        rows = 4 << (2 * step)                # rows x 1024 float32: 16 kB · 4^step
        cases.append(f"layer=layernorm,shape={rows}x1024,mode=forward,layout=nchw")
    return cases


def size_sweep_report(results):
    rows = []
    for result in results:
        record = result["record"]
        torch_gbps = record["floor_bytes"] / result["torch"] / 1e9
        rows.append([case_name(result), byte_count(record["floor_bytes"] // 2), duration(record["median_s"]),
                     duration(result["torch"]), ratio_text(speedup(result)), f"{record['gbps']:.1f}",
                     f"{torch_gbps:.1f}", percent(record["roofline_pct"])])
    table = markdown_table(["case", "tensor", "NormKit", "PyTorch", "speedup", "NormKit GB/s", "PyTorch GB/s",
                            "NormKit % roofline"], rows)
    return table + disturbance_note(results)


def threads_sweep_report(by_threads):
    (one, results_one), (two, results_two) = by_threads
    rows = []
    for first, second in zip(results_one, results_two):
        def scaling(a, b):
            return f"{a / b:.2f}×" if a and b else "—"
        name = first["record"]["label"] + (" †" if disturbed(first) or disturbed(second) else "")
        rows.append([name, duration(first["record"]["median_s"]), duration(second["record"]["median_s"]),
                     scaling(first["record"]["median_s"], second["record"]["median_s"]),
                     duration(first["torch"]), duration(second["torch"]), scaling(first["torch"], second["torch"]),
                     ratio_text(speedup(first)), ratio_text(speedup(second))])
    table = markdown_table(["case", f"NormKit {one}t", f"NormKit {two}t", "NormKit scaling",
                            f"PyTorch {one}t", f"PyTorch {two}t", "PyTorch scaling",
                            f"speedup {one}t", f"speedup {two}t"], rows)
    return table + disturbance_note(results_one + results_two)


def machine_description():
    """The CPU's model name and its cache sizes as Linux reports them (the model alone elsewhere):
    NormKit plans its streamed stores from the last level (up to 32 MiB), so tables from different
    machines of one kind read apart."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    caches = {}
    for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            with open(f"{index}/level") as level, open(f"{index}/type") as kind, open(f"{index}/size") as size:
                if kind.read().strip() != "Instruction":
                    caches[f"L{level.read().strip()}"] = size.read().strip()
        except OSError:
            continue
    def readable(size):
        kib = int(size[:-1]) << 10 if size[-1:] in ("M", "m") else int(size.rstrip("Kk") or 0)
        return f"{kib >> 10} MiB" if kib >= 1024 and kib % 1024 == 0 else f"{kib} KiB"
    sizes = ", ".join(f"{level} {readable(size)}" for level, size in sorted(caches.items()))
    return f"{model}" + (f", {sizes} as sysfs reports them" if sizes else "")


def preamble(results, threads_text, malloc_tuned, rounds):
    bandwidths = sorted({f"{result['record']['bandwidth_gbps']:.1f}" for result in results})
    malloc = ("PyTorch with NormKit's malloc tuning (mmap and trim thresholds 1 GiB)" if malloc_tuned
              else "PyTorch with glibc's default malloc (large outputs page-fault on every call)")
    if TORCH_HUGE_PAGES:
        malloc += "; both on huge pages (NORMKIT_HUGE_PAGES=1, THP_MEM_ALLOC_ENABLE=1)"
    elif NORMKIT_HUGE_PAGES:
        malloc += "; NormKit on huge pages (NORMKIT_HUGE_PAGES=1), PyTorch on 4 KiB pages"
    return (f"NormKit vs PyTorch {torch.__version__} on {platform.machine()} ({os.cpu_count()} cores; "
            f"{machine_description()}), "
            f"{threads_text}; copy bandwidth {' / '.join(bandwidths)} GB/s (read + write); {malloc}; "
            f"the libraries take {rounds} alternating turns per case, each time the median of its turns; "
            f"speedup = PyTorch time / NormKit time.")


# --- Main ---------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--normkit", default=".build/release/normkit", help="the normkit binary (a release build)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both libraries")
    parser.add_argument("--case", action="append", default=[], help="a case string; repeatable, or joined by ';'")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds of timed calls per case and library")
    parser.add_argument("--rounds", type=int, default=2,
                        help="turns each library takes on a case, alternating (the time is the median of the turns)")
    parser.add_argument("--sweep", choices=["size", "threads"], help="time vs tensor size, or vs thread count")
    parser.add_argument("--markdown", metavar="FILE", help="also write the report to FILE")
    parser.add_argument("--bare-pass", action="store_true",
                        help="also time each case's bare pass (normkit bench --bare-pass) and show both libraries' "
                             "share of it, and the ceiling on any kernel's speedup over PyTorch")
    parser.add_argument("--torch-default-malloc", action="store_true",
                        help="leave PyTorch's allocations as they are out of the box: glibc's malloc thresholds "
                             "(NormKit tunes its own; see tune_malloc_like_normkit), and 4 KiB pages "
                             "even with NORMKIT_HUGE_PAGES=1")
    args = parser.parse_args()
    if args.rounds < 1:
        sys.exit("--rounds must be at least 1")
    malloc_tuned = not args.torch_default_malloc and tune_malloc_like_normkit()

    if not os.access(args.normkit, os.X_OK):
        sys.exit(f"{args.normkit} not found: run `swift build -c release --product normkit` first")
    explicit = [text.strip() for argument in args.case for text in argument.split(";") if text.strip()]

    if args.sweep == "size":
        results = side_by_side(args.normkit, size_sweep_cases(), args.threads, args.min_time, args.rounds)
        report = preamble(results, f"{args.threads} threads", malloc_tuned, args.rounds) + "\n\n" + size_sweep_report(results)
    elif args.sweep == "threads":
        cases = explicit or default_suite(args.normkit)
        by_threads = [(threads, side_by_side(args.normkit, cases, threads, args.min_time, args.rounds)) for threads in (1, 2)]
        report = (preamble(by_threads[0][1] + by_threads[1][1], "1 and 2 threads", malloc_tuned, args.rounds) + "\n\n"
                  + threads_sweep_report(by_threads))
    else:
        cases = explicit or default_suite(args.normkit)
        results = side_by_side(args.normkit, cases, args.threads, args.min_time, args.rounds, args.bare_pass)
        report = (preamble(results, f"{args.threads} threads", malloc_tuned, args.rounds) + "\n\n"
                  + suite_report(results, args.bare_pass))

    print(report)
    if args.markdown:
        with open(args.markdown, "w") as file:
            file.write(report + "\n")


if __name__ == "__main__":
    main()
