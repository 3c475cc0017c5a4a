#!/usr/bin/env python3
"""convcalc run against NumPy, SciPy, OpenCV, pandas and PyTorch on this machine, as ratios,
and against the machine's own limits (peak float64 FLOP/s and memory bandwidth).

bench/RESULTS.md is written by this script and by nothing else:

    python3 bench/run.py                      # everything: rewrites bench/RESULTS.md
    python3 bench/run.py --quick              # fewer repeats, single-channel tables at 512 and 2048
    python3 bench/run.py --only layers,text   # reruns some sections; the others are kept

Sections, in the order of RESULTS.md: machine, compute, text, whole, startup, layers,
streaming, stacks, onnx (then the targets of issues #9 and #21, made from every section's
measurements). Each section's table, targets and measurements are also stored in
bench/results.json, so `--only` can rerun a part and still write the whole file.

Needs (for the benchmark only, never for convcalc's build):
    pip install numpy scipy opencv-python-headless pandas torch
and gcc (bench/peak.c is compiled at run time with -O3 -march=native -fopenmp). Builds
convcalc with `swift build -c release` unless --no-build. Times are medians; the machine is
shared, so only ratios from the same run mean anything. convcalc's own phase times come from
`run --timings`.
"""
import argparse
import hashlib
import io
import json
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import scipy
import scipy.ndimage
import scipy.signal

try:
    import cv2
except ImportError:  # the OpenCV columns are left out
    cv2 = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, ".build", "release", "convcalc")
BENCH = os.path.join(ROOT, "bench")
SECTIONS = ["machine", "compute", "text", "whole", "startup", "layers", "streaming", "stacks", "onnx"]
MiB = 2**20

NUMPY_SCRIPT = """
import sys, numpy as np, scipy.signal
x = np.loadtxt(sys.argv[1], ndmin=2); k = np.loadtxt(sys.argv[2], ndmin=2)
np.savetxt(sys.argv[3], scipy.signal.correlate2d(x, k, 'same'), fmt='%.17g')
"""

# cv2.filter2D writing a new output every call, in its own process: with a fixed mmap
# threshold glibc maps every large output afresh (as convcalc's output is), instead of
# reusing pages already touched. Prints one median time (s) per kernel as JSON.
CV2_NEW_OUTPUT_SCRIPT = """
import json, statistics, sys, time, numpy as np, cv2
x = np.load(sys.argv[1]); repeat = int(sys.argv[2]); times = {}
for path in sys.argv[3:]:
    k = np.load(path); samples = []
    for i in range(repeat + 1):
        start = time.perf_counter(); y = cv2.filter2D(x, -1, k, borderType=cv2.BORDER_CONSTANT)
        samples.append(time.perf_counter() - start); del y
    times[path] = statistics.median(samples[1:])
print(json.dumps(times))
"""


# ---------------------------------------------------------------------------------------------
# Measuring


def median_time(function, repeat, warmup=0):
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


GNU_TIME = "/usr/bin/time"


def run_measured(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL):
    """Runs COMMAND to its end: its wall time (s), peak RSS (bytes), exit status and standard error.

    The peak RSS is not this script's rusage of the child: a child forked from this large Python
    process keeps, in ru_maxrss, the high-water mark of the Python image it replaced at exec
    (about 500 MiB once torch is loaded). GNU time, a small process, reports its child's instead;
    without it, VmHWM is read from /proc every 2 ms until the process ends (a lower bound)."""
    with tempfile.NamedTemporaryFile(mode="r") as rss_file, tempfile.TemporaryFile() as error:
        wrapped = os.path.exists(GNU_TIME)
        prefix = [GNU_TIME, "-f", "%M", "-o", rss_file.name] if wrapped else []
        start = time.perf_counter()
        process = subprocess.Popen(prefix + command, stdin=stdin, stdout=stdout, stderr=error)
        peak = 0
        while not wrapped and process.poll() is None:
            try:
                with open(f"/proc/{process.pid}/status") as status:
                    peak = max([peak] + [int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM")])
            except (OSError, ValueError):
                pass
            time.sleep(0.002)
        status = process.wait()
        wall = time.perf_counter() - start
        if wrapped:
            peak = int(rss_file.read().split()[-1]) * 1024
        error.seek(0)
        return wall, peak, status, error.read().decode(errors="replace")


def timings(args):
    """One `convcalc run --timings ARGS`: its phases (seconds), the wall time of the whole
    process (key "wall") and its peak RSS in bytes (key "rss")."""
    wall, rss, status, error = run_measured([BINARY, "run", "--timings"] + args)
    if status != 0:
        raise RuntimeError(f"convcalc run {' '.join(args)} failed: {error.strip()}")
    body = error.strip().splitlines()[-1].split("timings: ")[1]
    phases = {name.strip(", "): float(value) for name, value in re.findall(r"([a-z ,]+?) ([0-9.]+) s", body)}
    note = re.search(r"compute [0-9.]+ s \(([^)]*)\)", body)
    phases["note"] = note.group(1) if note else ""
    phases["wall"] = wall
    phases["rss"] = rss
    return phases


def summary(runs):
    """Medians of each phase over several runs of one command; the largest peak RSS."""
    result = {key: statistics.median(run[key] for run in runs) for key in runs[0] if key not in ("note", "rss")}
    result["note"] = runs[0]["note"]
    result["rss"] = max(run["rss"] for run in runs)
    return result


def median_phases(args, repeat):
    return summary([timings(args) for _ in range(repeat)])


def interleaved_phases(variants, repeat):
    """summary() of several argument lists ({name: args}), run in turn, one of each per round, so
    that a change in the machine's load falls on all of them alike."""
    runs = {name: [] for name in variants}
    for _ in range(repeat):
        for name, args in variants.items():
            runs[name].append(timings(args))
    return {name: summary(samples) for name, samples in runs.items()}


def process_run(command):
    """Wall time (s) and peak RSS (bytes) of one process, its output discarded."""
    wall, rss, status, error = run_measured(command)
    if status != 0:
        raise RuntimeError(f"{' '.join(command)} failed with status {status}: {error.strip()}")
    return wall, rss


def whole_process(command, repeat):
    """Median wall time and largest peak RSS of `repeat` runs of a command."""
    runs = [process_run(command) for _ in range(repeat)]
    return statistics.median(run[0] for run in runs), max(run[1] for run in runs)


def startup(command, repeat=300):
    """Median wall time of spawning `command` and waiting for it."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        pid = os.posix_spawn(command[0], command, os.environ,
                             file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
        os.waitpid(pid, 0)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def max_relative_error(value, reference):
    """Largest absolute difference relative to the reference's largest magnitude."""
    return float(np.abs(value - reference).max() / np.abs(reference).max())


def ms(seconds):
    return "–" if seconds is None else f"{seconds * 1e3:.1f} ms"


# ---------------------------------------------------------------------------------------------
# Files


def save_matrix(path, array):
    """A 2-D matrix, or C×H×W blocks separated by blank lines, as `%.17g` text."""
    with open(path, "w") as f:
        if array.ndim == 2:
            np.savetxt(f, array, fmt="%.17g")
            return
        for index, plane in enumerate(array):
            if index:
                f.write("\n")
            np.savetxt(f, plane, fmt="%.17g")


def save_weights(path, weights):
    """A 4-D weight in PyTorch's layout (out × in/g × kh × kw) with its `# shape` line."""
    with open(path, "w") as f:
        f.write("# shape " + "x".join(str(size) for size in weights.shape) + "\n")
        for index, plane in enumerate(weights.reshape(-1, *weights.shape[2:])):
            if index:
                f.write("\n")
            np.savetxt(f, plane, fmt="%.17g")


def load_channels(path, channels):
    """convcalc's output (channels separated by blank lines) as a C×H×W array."""
    flat = np.loadtxt(path, ndmin=2)
    return flat.reshape(channels, -1, flat.shape[1])


def _text_rows(job):
    seed, chunk, rows, columns = job
    buffer = io.BytesIO()
    np.savetxt(buffer, np.random.default_rng([seed, chunk]).standard_normal((rows, columns)), fmt="%.17g")
    return buffer.getvalue()


def large_text_matrix(directory, rows, columns, seed=21):
    """A rows × columns `%.17g` matrix of normal numbers, made once (in parts, on every core)
    and kept in `directory` for later runs."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"normal-{rows}x{columns}-seed{seed}.txt")
    if os.path.exists(path):
        return path
    chunk = 250
    jobs = [(seed, index, min(chunk, rows - start), columns) for index, start in enumerate(range(0, rows, chunk))]
    print(f"making {path} (once) ...", flush=True)
    with open(path + ".part", "wb") as f, multiprocessing.Pool() as pool:
        for text in pool.imap(_text_rows, jobs):
            f.write(text)
    os.rename(path + ".part", path)
    return path


# ---------------------------------------------------------------------------------------------
# Report: each section's Markdown, measurements and targets, kept in bench/results.json


class Section:
    def __init__(self, name, quick):
        self.name, self.quick = name, quick
        self.lines, self.targets, self.values = [], [], {}

    def say(self, text=""):
        print(text, flush=True)
        self.lines.append(text)

    def table(self, header, rows):
        self.say("| " + " | ".join(header) + " |")
        self.say("|" + " --- |" * len(header))
        for row in rows:
            self.say("| " + " | ".join(str(cell) for cell in row) + " |")

    def target(self, issue, what, measured, needed, met, digits=2):
        """One "Done when" line: the measured value (a number or text), what is needed, met?"""
        text = f"{measured:.{digits}f}" if isinstance(measured, float) else str(measured)
        self.targets.append({"issue": issue, "what": what, "measured": text, "needed": needed, "met": bool(met)})

    def at_least(self, issue, what, measured, needed, digits=2):
        self.target(issue, what, measured, f"≥ {needed}", measured >= needed, digits)

    def at_most(self, issue, what, measured, needed, digits=2):
        self.target(issue, what, measured, f"≤ {needed}", measured <= needed, digits)

    def stored(self):
        return {"markdown": "\n".join(self.lines), "targets": self.targets, "values": self.values,
                "date": time.strftime("%Y-%m-%d %H:%M"), "quick": self.quick}


class Bench:
    """What every section shares: options, the scratch directory, repeats, the machine's limits."""

    def __init__(self, options, stored):
        self.options = options
        self.quick = options.quick
        self.repeat = 3 if options.quick else 5
        self.sizes = [512, 2048] if options.quick else [512, 2048, 4096]
        self.kernels = [3, 7, 15, 31, 63]
        self.work = tempfile.mkdtemp(prefix="convcalc-bench-")
        self.stored = stored
        self._images, self._kernels = {}, {}

    def image(self, n):
        """The n×n normal test image, its text file."""
        if n not in self._images:
            array = np.random.default_rng([20261124, n]).standard_normal((n, n))
            path = os.path.join(self.work, f"img{n}.txt")
            save_matrix(path, array)
            np.save(os.path.join(self.work, f"img{n}.npy"), array)
            self._images[n] = (array, path)
        return self._images[n]

    def kernel(self, k):
        if k not in self._kernels:
            array = np.random.default_rng([20261124, 1000 + k]).standard_normal((k, k))
            path = os.path.join(self.work, f"k{k}.txt")
            save_matrix(path, array)
            np.save(os.path.join(self.work, f"k{k}.npy"), array)
            self._kernels[k] = (array, path)
        return self._kernels[k]

    def path(self, name):
        return os.path.join(self.work, name)

    def limits(self):
        """The machine section's measurements (this run's, else the stored ones)."""
        machine = self.stored.get("machine")
        if not machine:
            raise SystemExit("no machine measurements yet: run with --only machine first")
        return machine["values"]

    def peak_gflops(self):
        return peak_gflops(self.limits())

    def bandwidth(self):
        return bandwidth(self.limits())


def peak_gflops(machine):
    """The 2-core float64 peak: the 2-thread FMA figure, or twice the 1-thread one if that is
    more (the cores are alike; the 2-thread loop loses most when other work takes a core)."""
    return max(machine["fma_gflops_2"], 2 * machine["fma_gflops_1"])


def bandwidth(machine):
    """Memory bandwidth in bytes/s: the better copy figure (1 or 2 threads)."""
    return max(machine["copy_gbs_1"], machine["copy_gbs_2"]) * 1e9


# ---------------------------------------------------------------------------------------------
# Sections: one function each, writing into a Section


def section_machine(bench, out):
    """Peak float64 FMA throughput and STREAM-like bandwidth, from bench/peak.c."""
    binary = bench.path("peak")
    subprocess.run(["gcc", "-O3", "-march=native", "-fopenmp", os.path.join(BENCH, "peak.c"), "-o", binary], check=True)
    output = subprocess.run([binary, "1", "2"], check=True, capture_output=True, text=True).stdout
    values = {key: float(value) for key, value in (line.split() for line in output.splitlines())}
    out.values = values
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    out.say("## The machine's limits (`bench/peak.c`)")
    out.say()
    out.say(f"{model}, {os.cpu_count()} CPUs. `peak.c` (gcc -O3 -march=native -fopenmp, {int(values['vector_bits'])}-bit "
            "vectors) runs 16 independent FMA chains per thread for FLOP/s (2 per FMA) and STREAM's triad "
            "(`a = b + s·c`, 24 bytes per element) and copy (16 bytes) on 512 MiB arrays; best of 20 (FMA) and of 5 (bandwidth). "
            "The fractions of peak in the other sections are of the 2-core peak FLOP/s, the 2-thread figure or twice "
            "the 1-thread one if that is more (the cores are alike, and the 2-thread loop loses most when other work "
            f"takes a core): {peak_gflops(values):.1f} GFLOP/s; and of the better copy bandwidth, "
            f"{bandwidth(values) / 1e9:.1f} GB/s.")
    out.say()
    out.table(["threads", "float64 GFLOP/s (FMA)", "triad GB/s", "copy GB/s"],
              [[t, f"{values[f'fma_gflops_{t}']:.1f}", f"{values[f'triad_gbs_{t}']:.1f}", f"{values[f'copy_gbs_{t}']:.1f}"]
               for t in (1, 2)])
    out.say()
    out.say("Issue #21 measured 169 GFLOP/s on both cores (84–88 on one) on a quiet machine; a lower figure here "
            "means other work was running.")
    out.say()


def section_compute(bench, out):
    """Single-channel compute: convcalc's phases against SciPy, ndimage, OpenCV."""
    peak = bench.peak_gflops()
    repeat = bench.repeat
    out.say("## Compute, one channel (convcalc: the `compute` phase of `--timings`)")
    out.say()
    out.say("convcalc runs once per process, so its output memory is fresh; the first write to it is timed apart as "
            "`allocate`. `cv2 dst=` writes into an output allocated once and reused (pages already touched), compared "
            "with convcalc's `compute`; `cv2 new` writes a new output every call in a process whose allocator maps "
            "every large block afresh (`MALLOC_MMAP_THRESHOLD_=131072`), compared with convcalc's `allocate + compute` "
            "(issue #21's fair comparison). The other peers run in a loop in one Python process, compared with "
            "`compute`. `auto / best` is `auto`'s compute over the faster of `direct` and `fft`; `choice / best` is the method "
            "`auto` chose, forced, over the faster (the cost of the choice, target ≤ 1.10: `auto` runs that same method, and two "
            "medians of one method, timed in different processes, differed by up to 1.6× on this machine; the three "
            f"are run in turn, one process each per round, so load falls on them alike; medians of {2 * repeat - 1} rounds "
            f"at 512², {repeat} above). "
            "`direct GFLOP/s` counts 2 FLOPs per multiply–add; % of the machine's 2-thread peak.")
    out.say()
    header = ["N", "K", "convcalc auto", "method", "allocate", "direct", "fft", "auto / best", "choice / best", "direct GFLOP/s (% peak)",
              "correlate2d", "×", "ndimage", "×", "cv2 dst=", "×", "cv2 new", "× (alloc + compute)",
              "fftconvolve", "×", "oaconvolve", "×"]
    rows = []
    for n in bench.sizes:
        x, image_path = bench.image(n)
        new_output = cv2_new_output_times(bench, n, repeat) if cv2 else {}
        for k in bench.kernels:
            kernel, kernel_path = bench.kernel(k)
            # In memory: a 4096² file is over 256 MiB, which `--stream auto` would stream
            # (its --timings then has no separate compute phase).
            files = ["--stream", "never", "--p", "same", image_path, kernel_path]
            macs = n * n * k * k
            methods = ["auto", "fft"] + (["direct"] if macs <= 3e10 else [])
            # More rounds where a run is short (its median moves most with the machine's load)
            # and at 4096² (three took auto / best of one method to 1.29 in one run).
            own = interleaved_phases({method: ["--method", method] + files for method in methods},
                                     2 * repeat - 1 if n <= 512 else repeat)
            own.setdefault("direct", None)
            auto = own["auto"]["compute"]
            allocate = own["auto"]["allocate"]

            def peer(function, skip=False):
                if skip:
                    return None
                once = median_time(function, 1)
                return once if once > 5 else min(once, median_time(function, repeat - 1))

            slow = macs / 1.5e9  # correlate2d runs at about 1-2 GFLOP/s
            dst = np.empty_like(x)
            peers = {
                "correlate2d": peer(lambda: scipy.signal.correlate2d(x, kernel, "same"), skip=slow > 20 or k > 15),
                "ndimage": peer(lambda: scipy.ndimage.correlate(x, kernel, mode="constant"), skip=slow / 3 > 20 or k > 15),
                "cv2.filter2D": peer(lambda: cv2.filter2D(x, -1, kernel, dst=dst, borderType=cv2.BORDER_CONSTANT)) if cv2 else None,
                "fftconvolve": peer(lambda: scipy.signal.fftconvolve(x, kernel[::-1, ::-1], "same")),
                "oaconvolve": peer(lambda: scipy.signal.oaconvolve(x, kernel[::-1, ::-1], "same")),
            }
            new = new_output.get(k)
            measured = [own[m]["compute"] for m in ("direct", "fft") if own[m]]
            auto_over_best = auto / min(measured)
            # The cost of auto's choice: the method it chose, forced, over the better one. auto's
            # own compute is that same method's, timed in other processes; on this machine two
            # such medians of one method differ by up to 1.6× (runs fall in two groups, about
            # 5.5 and 8.6 ms at 2048², K 7), which auto / best shows as well.
            chosen = own["auto"]["note"].split(",")[0].strip()
            choice_over_best = own[chosen]["compute"] / min(measured) if own.get(chosen) else auto_over_best
            direct = own["direct"]["compute"] if own["direct"] else None
            gflops = 2 * macs / direct / 1e9 if direct else None
            ratio = lambda value, base: ["–", "–"] if value is None else [ms(value), f"{value / base:.2f}"]
            rows.append([n, k, ms(auto), own["auto"]["note"].split(",")[0], ms(allocate),
                         ms(direct), ms(own["fft"]["compute"]), f"{auto_over_best:.2f}", f"{choice_over_best:.2f}",
                         "–" if gflops is None else f"{gflops:.1f} ({100 * gflops / peak:.0f}%)"]
                        + ratio(peers["correlate2d"], auto) + ratio(peers["ndimage"], auto)
                        + ratio(peers["cv2.filter2D"], auto) + ratio(new, auto + allocate)
                        + ratio(peers["fftconvolve"], auto) + ratio(peers["oaconvolve"], auto))
            out.values[f"{n}/{k}"] = {"auto": auto, "allocate": allocate, "direct": direct, "fft": own["fft"]["compute"],
                                      "method": own["auto"]["note"], "cv2_new": new, **peers}
            # Issue #9: compute against peers reusing their memory.
            needed = {"correlate2d": 10, "ndimage": 3, "cv2.filter2D": 1} if k <= 15 else {"fftconvolve": 1}
            for name, value in peers.items():
                if name in needed and value is not None and (k <= 15 or n >= 2048):
                    out.at_least(9, f"compute {n}², K {k}: × {name}", value / auto, needed[name])
            # Issue #21: every cell against cv2 writing a new output; auto within 10% of the better method.
            if new is not None:
                out.at_least(21, f"{n}², K {k}: cv2.filter2D new output / convcalc allocate + compute", new / (auto + allocate), 1)
            out.at_most(21, f"{n}², K {k}: auto's method / better of direct and fft", choice_over_best, 1.10)
    out.table(header, rows)
    out.say()
    out.say("– : not run (correlate2d and ndimage would take minutes at these sizes; direct beyond 3·10^10 MACs).")
    out.say()
    agreement(bench, out)


def cv2_new_output_times(bench, n, repeat):
    """cv2.filter2D writing a new, freshly mapped output: median seconds per kernel size."""
    bench.image(n)
    for k in bench.kernels:
        bench.kernel(k)   # makes k{k}.npy
    paths = {bench.path(f"k{k}.npy"): k for k in bench.kernels}
    environment = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    output = subprocess.run([sys.executable, "-c", CV2_NEW_OUTPUT_SCRIPT, bench.path(f"img{n}.npy"), str(repeat)] + list(paths),
                            check=True, capture_output=True, text=True, env=environment).stdout
    return {paths[path]: seconds for path, seconds in json.loads(output).items()}


def agreement(bench, out):
    """Direct, FFT and SciPy agree on one large case."""
    n, k = 2048, 31
    x, image_path = bench.image(n)
    kernel, kernel_path = bench.kernel(k)
    outputs = {}
    for method in ["direct", "fft"]:
        path = bench.path(f"out-{method}.txt")
        subprocess.run([BINARY, "run", "--method", method, "--p", "same", image_path, kernel_path, "-o", path], check=True)
        outputs[method] = np.loadtxt(path)
    reference = scipy.signal.correlate2d(x, kernel, "same")
    out.say(f"Agreement at {n}², K = {k}, relative to the largest value: direct vs SciPy "
            f"{max_relative_error(outputs['direct'], reference):.1e}, fft vs SciPy "
            f"{max_relative_error(outputs['fft'], reference):.1e}, direct vs fft "
            f"{max_relative_error(outputs['direct'], outputs['fft']):.1e}.")
    out.say()


def section_text(bench, out):
    """Parsing and printing 2048² `%.17g` text: convcalc against NumPy and pandas."""
    import pandas
    memory = bench.bandwidth()
    n = 2048
    x, path = bench.image(n)
    size = os.path.getsize(path)
    repeat = bench.repeat
    phases = median_phases(["--p", "same", path, bench.kernel(3)[1]], repeat)
    parse, printing = phases["parse input"], phases["format and write"]

    def read_csv():
        with warnings.catch_warnings():   # pandas 3 deprecates float_precision; pandas 2 needs it to be exact
            warnings.simplefilter("ignore")
            return pandas.read_csv(path, sep=" ", header=None, engine="c", float_precision="round_trip").to_numpy()

    pandas_load = median_time(read_csv, 3, warmup=1)
    numpy_load = median_time(lambda: np.loadtxt(path), 3 if not bench.quick else 1)
    result = scipy.signal.correlate2d(x, bench.kernel(3)[0], "same")
    frame = pandas.DataFrame(result)
    pandas_save = median_time(lambda: frame.to_csv(bench.path("pandas.txt"), sep=" ", header=False, index=False,
                                                   float_format="%.17g"), 3 if not bench.quick else 1)
    numpy_save = median_time(lambda: np.savetxt(bench.path("saved.txt"), result, fmt="%.17g"), 3 if not bench.quick else 1)
    out_path = bench.path("convcalc-out.txt")
    subprocess.run([BINARY, "run", "--p", "same", path, bench.kernel(3)[1], "-o", out_path], check=True)
    out_size = os.path.getsize(out_path)

    # Exact round trip: the identity kernel prints the parsed input back; read by NumPy it must be
    # the very doubles written with %.17g, bit for bit (parse and print both exact).
    identity = bench.path("identity-out.txt")
    subprocess.run([BINARY, "run", path, "[1]", "-o", identity], check=True)
    round_trip = bool(np.array_equal(np.loadtxt(identity).view(np.int64), x.view(np.int64)))
    pandas_exact = bool(np.array_equal(read_csv().view(np.int64), x.view(np.int64)))
    computed = np.loadtxt(out_path)
    agrees = max_relative_error(computed, result)

    rate = lambda nbytes, seconds: f"{nbytes / seconds / 1e6:.0f} MB/s, {100 * nbytes / seconds / memory:.1f}% of bandwidth"
    out.say(f"## Text ({n}×{n}, {size / 1e6:.0f} MB of `%.17g` text in, {out_size / 1e6:.0f} MB shortest round-trip text out)")
    out.say()
    out.say("convcalc's parse time is its `parse input` phase; its print time is its `format and write` phase with "
            "standard output on /dev/null (in parts on both cores, each written as soon as it is ready). "
            "pandas reads with `read_csv(sep=' ', header=None, engine='c', float_precision='round_trip')` (exact) "
            "and writes with `to_csv(sep=' ', float_format='%.17g')`. Bandwidth: the machine section's copy figure.")
    out.say()
    out.table(["phase", "convcalc", "pandas", "× pandas", "NumPy", "× NumPy"], [
        ["parse", f"{parse * 1e3:.0f} ms ({rate(size, parse)}; {size / parse / 1e6 / 2:.0f} MB/s per thread)",
         f"read_csv {pandas_load * 1e3:.0f} ms ({size / pandas_load / 1e6:.0f} MB/s)", f"{pandas_load / parse:.1f}",
         f"loadtxt {numpy_load * 1e3:.0f} ms ({size / numpy_load / 1e6:.0f} MB/s)", f"{numpy_load / parse:.1f}"],
        ["print", f"{printing * 1e3:.0f} ms ({rate(out_size, printing)})",
         f"to_csv {pandas_save * 1e3:.0f} ms", f"{pandas_save / printing:.1f}",
         f"savetxt('%.17g') {numpy_save * 1e3:.0f} ms", f"{numpy_save / printing:.1f}"],
    ])
    out.say()
    out.say(f"Exact round trip (`convcalc run FILE '[1]'` read back by np.loadtxt equals the doubles written, bit for bit): "
            f"{'yes' if round_trip else '**no**'}. pandas `round_trip` reads them exactly: {'yes' if pandas_exact else 'no'}. "
            f"3×3 result against SciPy, relative to the largest value: {agrees:.1e}.")
    out.say()
    out.values = {"parse": parse, "print": printing, "read_csv": pandas_load, "loadtxt": numpy_load, "to_csv": pandas_save,
                  "savetxt": numpy_save, "input_bytes": size, "output_bytes": out_size, "round_trip": round_trip}
    out.at_least(9, "parse: × np.loadtxt", numpy_load / parse, 5)
    out.at_least(9, "print: × np.savetxt", numpy_save / printing, 8)
    out.at_least(21, "parse 2048²: × pandas.read_csv", pandas_load / parse, 3)
    out.at_least(21, "print 2048²: × np.savetxt", numpy_save / printing, 10)
    out.target(21, "exact round trip (parse and print, bit for bit)", "yes" if round_trip else "no", "yes", round_trip)


def section_whole(bench, out):
    """Whole process, text in and out, against the NumPy/SciPy script; peak RSS of both."""
    script = bench.path("convolve.py")
    with open(script, "w") as f:
        f.write(NUMPY_SCRIPT)
    kernel_path = bench.kernel(3)[1]
    out_path = bench.path("convcalc-whole.txt")
    out.say("## Whole process (load a text matrix, correlate with 3×3 'same', save as text)")
    out.say()
    out.say("Peak RSS of each process from GNU time (`/usr/bin/time -f %M`). The budget is the input and "
            "output as doubles and as text.")
    out.say()
    rows = []
    sizes = sorted(set(bench.sizes) | {4096})   # 4096² is a target of issue #21, also in --quick
    for n in sizes:
        path = bench.image(n)[1]
        ours, rss = whole_process([BINARY, "run", "--p", "same", path, kernel_path, "-o", out_path],
                                  bench.repeat if n < 4096 else 3)
        theirs, their_rss = whole_process([sys.executable, script, path, kernel_path, bench.path("np-out.txt")],
                                          3 if n < 4096 and not bench.quick else 1)
        budget = 2 * n * n * 8 + os.path.getsize(path) + os.path.getsize(out_path)
        rows.append([n, f"{ours * 1e3:.0f} ms", f"{theirs * 1e3:.0f} ms", f"{theirs / ours:.1f}", f"{rss / MiB:.0f} MiB",
                     f"{their_rss / MiB:.0f} MiB", f"{rss / their_rss:.2f}", f"{budget / MiB:.0f} MiB ({rss / budget:.2f}×)"])
        out.values[str(n)] = {"convcalc": ours, "numpy": theirs, "rss": rss, "numpy_rss": their_rss}
        if n == 2048:
            out.at_least(9, "whole process 2048², 3×3: × NumPy script", theirs / ours, 10)
            out.at_least(21, "whole process 2048², 3×3: × NumPy script", theirs / ours, 20)
        out.at_least(9, f"peak memory {n}²: budget / RSS (3× allowed)", 3 * budget / rss, 1)
        if n == 4096:
            out.at_most(21, "peak RSS 4096², whole process: convcalc / NumPy script", rss / their_rss, 1.0)
    out.table(["N", "convcalc run", "NumPy/SciPy script", "×", "convcalc peak RSS", "script peak RSS", "RSS ratio",
               "input + output doubles + text"], rows)
    out.say()


def section_startup(bench, out):
    """Spawning convcalc against a Swift hello world and /bin/true."""
    hello_dir = bench.path("hello")
    os.makedirs(os.path.join(hello_dir, "Sources", "hello"))
    with open(os.path.join(hello_dir, "Package.swift"), "w") as f:
        f.write('// swift-tools-version:5.9\nimport PackageDescription\n'
                'let package = Package(name: "hello", targets: [.executableTarget(name: "hello")])\n')
    with open(os.path.join(hello_dir, "Sources", "hello", "main.swift"), "w") as f:
        f.write('print("hello")\n')
    subprocess.run(["swift", "build", "-c", "release"], cwd=hello_dir, check=True, stdout=subprocess.DEVNULL)
    hello = startup([os.path.join(hello_dir, ".build", "release", "hello")])
    ours = startup([BINARY, "shape", "--k", "3", "--in", "32"])
    true = startup(["/bin/true"])
    out.say("## Start-up (median of 300 spawns, each waited for)")
    out.say()
    out.say(f"`convcalc shape --k 3 --in 32` {ours * 1e3:.2f} ms; a Swift hello world built the same way (swift build -c release) "
            f"{hello * 1e3:.2f} ms; /bin/true {true * 1e3:.2f} ms. Ratio {ours / hello:.2f} "
            f"({(ours - true) / (hello - true):.2f} counting only the time beyond /bin/true's).")
    out.say()
    out.values = {"convcalc": ours, "hello": hello, "true": true}
    out.at_least(9, "start-up: 1.3 × hello world / convcalc", 1.3 * hello / ours, 1)


# The layers of issue #21: (name, in channels, out channels, kernel, size, stride, padding, groups, transposed).
LAYERS = [
    ("ResNet conv2_x 64→64 3×3, 56²", 64, 64, 3, 56, 1, 1, 1, False),
    ("ResNet-50 conv3 256→256 1×1, 28²", 256, 256, 1, 28, 1, 0, 1, False),
    ("MobileNetV2 depthwise 144 3×3, 56²", 144, 144, 3, 56, 1, 1, 144, False),
    ("DCGAN decoder 128→64 4×4 s2 p1 transposed, 28²→56²", 128, 64, 4, 28, 2, 1, 1, True),
]


def section_layers(bench, out):
    """Multi-channel layers: convcalc against PyTorch float64 on 2 threads."""
    import torch
    torch.set_num_threads(2)
    peak = bench.peak_gflops()
    # Twice the rounds of the other sections: a layer computes in a few milliseconds, and its
    # median moves with the machine's load (the section takes seconds).
    rounds, calls = 2 * bench.repeat - 1, (2 if bench.quick else 6)
    out.say("## Multi-channel layers against PyTorch (float64, 2 threads)")
    out.say()
    out.say(f"PyTorch {torch.__version__}: `torch.set_num_threads(2)`, `F.conv2d` / `F.conv_transpose2d` on float64 tensors, "
            "batch 1 (float32 for information), 5 warm-up calls. convcalc: the input as C×H×W `%.17g` text, the weight "
            "in PyTorch's layout with a `# shape` line; the `compute` phase of `--timings` for `auto` and for each method "
            "forced with `--method`, and the whole process (`auto`). Measured in "
            f"{rounds} rounds, each one convcalc process per method then {calls} PyTorch calls per precision (after 2 "
            "more warm-up calls), so that "
            f"a change in the machine's load falls on both; medians. GFLOP/s (of `auto`) count 2 FLOPs per "
            "multiply–add of the layer; % of the machine's 2-core peak. Error: largest difference of `auto`'s output "
            "from PyTorch float64, relative to the largest output magnitude (target ≤ 1e-12). The target is on the "
            "medians; the best times are shown too because PyTorch's 2-thread calls slow down most (several times) "
            "when other work takes one of the two cores.")
    out.say()
    rows = []
    for index, layer in enumerate(LAYERS):
        name = layer[0]
        try:
            result = measure_layer(bench, index, layer, rounds, calls)
        except (RuntimeError, subprocess.CalledProcessError) as failure:
            out.say(f"convcalc failed on {name}: {failure}")
            out.say()
            out.target(21, f"layer {name}: × PyTorch float64", "failed", "≥ 1", False)
            continue
        compute, theirs, flops = result["auto"], result["torch"], 2 * result["macs"]
        rows.append([name, f"{flops / 1e6:.0f}", f"{ms(compute)} (best {ms(result['auto_best'])}; {result['note']})",
                     f"{ms(result['direct'])} / {ms(result['fft'])}",
                     f"{flops / compute / 1e9:.1f} ({100 * flops / compute / 1e9 / peak:.0f}%)",
                     f"{result['wall'] * 1e3:.0f} ms", f"{ms(theirs)} (best {ms(result['torch_best'])})",
                     f"{flops / theirs / 1e9:.1f} ({100 * flops / theirs / 1e9 / peak:.0f}%)",
                     ms(result["torch32"]), f"{theirs / compute:.2f} ({result['torch_best'] / result['auto_best']:.2f})",
                     f"{result['error']:.1e}"])
        out.values[name] = result
        out.at_least(21, f"layer {name}: × PyTorch float64 (2 threads)", theirs / compute, 1.0)
        out.target(21, f"layer {name}: max relative error", f"{result['error']:.1e}", "≤ 1e-12", result["error"] <= 1e-12)
    out.table(["layer", "MFLOP", "convcalc compute (auto)", "direct / fft", "GFLOP/s (% peak)", "convcalc whole process",
               "PyTorch f64", "GFLOP/s (% peak)", "PyTorch f32", "× (f64 / convcalc; best / best)", "error"], rows)
    out.say()
    out.say("The Done-when of issue #21 names the first three layers; the transposed decoder layer is measured the "
            "same way. A fraction of peak above 100% means the machine section ran while the machine was busier.")
    out.say()


def measure_layer(bench, index, layer, rounds, calls):
    """One layer of LAYERS: its files written, then convcalc (auto, direct, fft) and PyTorch (float64,
    float32) timed in turn for `rounds` rounds; medians, the MACs and auto's error against PyTorch."""
    import torch
    import torch.nn.functional as F
    name, cin, cout, k, size, stride, padding, groups, transposed = layer
    rng = np.random.default_rng([21, index])
    x = rng.standard_normal((cin, size, size))
    shape = (cin, cout // groups, k, k) if transposed else (cout, cin // groups, k, k)
    w = rng.standard_normal(shape) / np.sqrt(shape[1] * k * k)
    input_path, weight_path = bench.path(f"layer{index}-x.txt"), bench.path(f"layer{index}-w.txt")
    save_matrix(input_path, x)
    save_weights(weight_path, w)
    options = ["--p", str(padding), "--s", str(stride)] + (["--g", str(groups)] if groups > 1 else []) \
        + (["--transposed"] if transposed else []) + [input_path, weight_path]

    convolve = F.conv_transpose2d if transposed else F.conv2d
    tensors = {"torch": (torch.from_numpy(x[None]), torch.from_numpy(w))}
    tensors["torch32"] = tuple(t.float() for t in tensors["torch"])
    times = {"torch": [], "torch32": []}
    runs = {method: [] for method in ("auto", "direct", "fft")}
    with torch.inference_mode():
        reference = convolve(*tensors["torch"], stride=stride, padding=padding, groups=groups)[0].numpy()
        for a, b in tensors.values():
            for _ in range(5):   # warm-up
                convolve(a, b, stride=stride, padding=padding, groups=groups)
        for _ in range(rounds):
            for method in runs:
                runs[method].append(timings(["--method", method] + options))
            for key, (a, b) in tensors.items():   # 2 calls again to warm up after the processes, then timed calls
                call = lambda: convolve(a, b, stride=stride, padding=padding, groups=groups)
                times[key] += [median_time(call, 1, warmup=2 if i == 0 else 0) for i in range(calls)]

    output_path = bench.path(f"layer{index}-out.txt")
    subprocess.run([BINARY, "run", "-o", output_path] + options, check=True, capture_output=True)
    ours = load_channels(output_path, reference.shape[0])
    error = max_relative_error(ours, reference) if ours.shape == reference.shape else float("inf")
    out_size = reference.shape[1]
    macs = cin * size * size * (cout // groups) * k * k if transposed else cout * out_size * out_size * (cin // groups) * k * k
    auto = summary(runs["auto"])
    return {"auto": auto["compute"], "wall": auto["wall"], "note": auto["note"],
            "auto_best": min(run["compute"] for run in runs["auto"]),
            "direct": summary(runs["direct"])["compute"], "fft": summary(runs["fft"])["compute"],
            "torch": statistics.median(times["torch"]), "torch_best": min(times["torch"]),
            "torch32": statistics.median(times["torch32"]), "macs": macs, "error": error}


def pipeline(command, source, via_cat):
    """`[cat SOURCE |] COMMAND | sha256sum`: COMMAND's wall time, peak RSS, exit status, standard
    error and the output's sha256."""
    digest = subprocess.Popen(["sha256sum"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    cat = subprocess.Popen(["cat", source], stdout=subprocess.PIPE) if via_cat else None
    wall, rss, status, error = run_measured(command, stdin=cat.stdout if cat else subprocess.DEVNULL, stdout=digest.stdin)
    if cat:
        cat.stdout.close()
        cat.wait()
    digest.stdin.close()
    sha = digest.stdout.read().decode().split()[0]
    digest.wait()
    return {"wall": wall, "rss": rss, "status": status, "error": error.strip(), "sha256": sha}


def section_streaming(bench, out):
    """A 20,000 × 4,096 `%.17g` matrix through a pipe against the same file given by name."""
    memory = bench.bandwidth()
    rows, columns = 20000, 4096
    source = large_text_matrix(bench.options.cache, rows, columns)
    size = os.path.getsize(source)
    kernel = "[0.0625 0.125 0.0625; 0.125 0.25 0.125; 0.0625 0.125 0.0625]"
    repeat = 1 if bench.quick else 2
    runs = {}
    # The file read whole (`--stream never`: the in-memory path the bytes must equal), the same
    # file streamed (`auto` streams a file over 256 MiB), and the pipe.
    for label, command, via_cat in [("file, whole", [BINARY, "run", "--stream", "never", "--p", "same", source, kernel], False),
                                    ("file, streamed", [BINARY, "run", "--p", "same", source, kernel], False),
                                    ("pipe", [BINARY, "run", "--p", "same", "-", kernel], True)]:
        samples = [pipeline(command, source, via_cat) for _ in range(repeat)]
        best = min(samples, key=lambda run: run["wall"])
        best["rss"] = max(run["rss"] for run in samples)
        runs[label] = best
    out.say(f"## Streaming ({rows:,} × {columns:,}, {size / 1e9:.2f} GB of `%.17g` text, 3×3 'same')")
    out.say()
    out.say(f"`cat FILE | convcalc run --p same - K | sha256sum` against `convcalc run --stream never --p same FILE K | sha256sum` "
            f"(the file mapped and read whole) and the file streamed (`--stream auto`: a file over 256 MiB). The matrix is made once in `{bench.options.cache}` (not in git). Wall time of the convcalc "
            f"process (best of {repeat}), throughput in MB of input text per second, peak RSS from GNU time.")
    out.say()
    table = []
    for label, run in runs.items():
        if run["status"] != 0:
            table.append([label, "refused" if run["status"] == 1 else f"exit {run['status']}", "–", "–", f"{run['rss'] / MiB:.0f} MiB",
                          f"`{run['error'][:200]}`"])
            continue
        rate = size / run["wall"]
        table.append([label, f"{run['wall']:.2f} s", f"{rate / 1e6:.0f} MB/s", f"{100 * rate / memory:.1f}%",
                      f"{run['rss'] / MiB:.0f} MiB", f"`{run['sha256'][:16]}…`"])
    out.table(["input", "convcalc", "throughput", "% of bandwidth", "peak RSS", "output sha256 / error"], table)
    out.say()
    piped, mapped = runs["pipe"], runs["file, whole"]
    ran = piped["status"] == 0
    same = ran and mapped["status"] == 0 and piped["sha256"] == mapped["sha256"]
    out.say(f"Same bytes through the pipe as from the file read whole: {'yes' if same else '**no**' if ran else '– (the pipe was refused)'}.")
    out.say()
    out.values = {label: {key: value for key, value in run.items()} for label, run in runs.items()}
    out.values["input_bytes"] = size
    out.target(21, "20,000×4,096 through a pipe: peak RSS (MiB)", f"{piped['rss'] / MiB:.0f}" if ran else "refused",
               "< 100", ran and piped["rss"] < 100 * MiB)
    out.target(21, "20,000×4,096 through a pipe: same bytes as the in-memory run", "yes" if same else "no" if ran else "refused",
               "yes", same)


def section_stacks(bench, out):
    """bench/stacks.sh: shape, rf and params on 100,000-layer and deeply nested stacks."""
    table = subprocess.run(["bash", os.path.join(BENCH, "stacks.sh")], check=True, capture_output=True, text=True).stdout
    out.say("## Long and deep stacks (`bash bench/stacks.sh`)")
    out.say()
    out.say("Seconds, best of 3, release build: `long` is 100,000 `conv:k=3,p=1` layers, `deep` the deepest "
            "nesting accepted (100 `add` merges). `rf` is linear in the stack (10,000 layers took 43 s before).")
    out.say()
    for line in table.strip().splitlines():
        out.say(line)
    out.say()


def section_onnx(bench, out):
    """bench/onnx_read.sh: a full-size VGG-16 ONNX file read by `convcalc params` and by onnx.load."""
    result = subprocess.run(["bash", os.path.join(BENCH, "onnx_read.sh")], capture_output=True, text=True)
    out.say("## Reading an ONNX model (issue #18, `bash bench/onnx_read.sh`)")
    out.say()
    if result.returncode != 0:
        out.say(f"not run: {result.stderr.strip()[-300:]}")
        out.say()
        return
    lines = result.stdout.strip().splitlines()
    out.say(f"VGG-16 exported by `torch.onnx.export` with its weights ({lines[0].split('(')[1].split(')')[0]}). "
            "convcalc maps the file and reads each weight's name, type and dims, never its bytes. "
            "Cold cache only when run as root.")
    out.say()
    for line in lines[1:]:
        out.say(line)
    out.say()


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def targets_table(stored, issue, title):
    lines = [f"## Targets of issue #{issue}{title}", "", "| target | measured | needed | met |", "| --- | --- | --- | --- |"]
    count = met = 0
    for name in SECTIONS:
        for target in stored.get(name, {}).get("targets", []):
            if target["issue"] != issue:
                continue
            count += 1
            met += target["met"]
            lines.append(f"| {target['what']} | {target['measured']} | {target['needed']} | "
                         f"{'yes' if target['met'] else '**no**'} |")
    lines += ["", f"{met} of {count} met."]
    quick = [name for name in SECTIONS if stored.get(name, {}).get("quick")]
    if quick:
        lines += [f"Measured with `--quick`: {', '.join(quick)}" +
                  (" (the single-channel table stops at 2048², so its 4096² cells are missing here)" if "compute" in quick else "") + "."]
    return lines + [""]


def write_results(stored, path):
    import importlib.metadata as metadata
    versions = []
    for package in ["numpy", "scipy", "opencv-python-headless", "pandas", "torch"]:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    dates = ", ".join(f"{name} {stored[name]['date']}{' (quick)' if stored[name]['quick'] else ''}"
                      for name in SECTIONS if name in stored)
    lines = ["# convcalc run: benchmark results", "",
             "Written by `python3 bench/run.py` (every section; `--quick` for fewer repeats, `--only SECTION,...` to "
             "rerun some and keep the others from `bench/results.json`). Do not edit by hand.", "",
             f"Sections and when each was measured: {dates}. Python {platform.python_version()}, {', '.join(versions)}; "
             f"{os.cpu_count()} CPUs. float64 throughout; medians unless said. Ratios are peer time / convcalc time: "
             "above 1, convcalc is faster. The machine is shared (other builds may be running), so compare ratios "
             "from one run.", ""]
    for name in SECTIONS:
        if name in stored:
            lines += stored[name]["markdown"].rstrip("\n").splitlines() + [""]
    lines += targets_table(stored, 9, "")
    lines += targets_table(stored, 21, " (run at the machine's limit)")
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats; single-channel tables at 512 and 2048")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections to run (default: all): " + ", ".join(SECTIONS))
    parser.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "convcalc-bench-cache"),
                        help="where the 1.7 GB streaming input is made once and kept")
    parser.add_argument("--out", default=os.path.join(BENCH, "RESULTS.md"))
    parser.add_argument("--json", default=os.path.join(BENCH, "results.json"))
    options = parser.parse_args()
    chosen = [name.strip() for name in options.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")

    if not options.no_build:
        subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    stored = {}
    if os.path.exists(options.json):
        with open(options.json) as f:
            stored = json.load(f)
    bench = Bench(options, stored)
    try:
        for name in SECTIONS:   # in order: the machine's limits first, the others use them
            if name not in chosen:
                continue
            started = time.perf_counter()
            section = Section(name, options.quick)
            globals()[f"section_{name}"](bench, section)
            stored[name] = section.stored()
            print(f"[{name}: {time.perf_counter() - started:.0f} s]", flush=True)
            with open(options.json, "w") as f:   # after every section, so a failure later keeps it
                json.dump(stored, f, indent=1, sort_keys=True)
    finally:
        shutil.rmtree(bench.work, ignore_errors=True)
    write_results(stored, options.out)
    print(f"written to {options.out} (measurements in {options.json})")


if __name__ == "__main__":
    main()
