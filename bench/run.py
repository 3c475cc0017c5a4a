#!/usr/bin/env python3
"""convcalc run against NumPy, SciPy and OpenCV on this machine, in one run, as ratios.

    python3 bench/run.py                      # everything, writes bench/RESULTS.md
    python3 bench/run.py --quick              # 512 and 2048 only, fewer repeats

Needs (for the benchmark only, never for convcalc): pip install numpy scipy opencv-python-headless
Builds convcalc with `swift build -c release`. Times are medians; the machine is shared, so only
ratios from the same run mean anything. convcalc's own phase times come from `run --timings`.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy
import scipy.ndimage
import scipy.signal

try:
    import cv2
except ImportError:  # the OpenCV column is left out
    cv2 = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, ".build", "release", "convcalc")

NUMPY_SCRIPT = """
import sys, numpy as np, scipy.signal
x = np.loadtxt(sys.argv[1], ndmin=2); k = np.loadtxt(sys.argv[2], ndmin=2)
np.savetxt(sys.argv[3], scipy.signal.correlate2d(x, k, 'same'), fmt='%.17g')
"""


def median_time(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timings(args):
    """convcalc's phases (seconds) from --timings, and the child's peak RSS (bytes)."""
    process = subprocess.Popen([BINARY, "run", "--timings"] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, _, usage = os.wait4(process.pid, 0)
    line = process.stderr.read().decode().strip().splitlines()[-1]
    body = line.split("timings: ")[1]
    phases = {name.strip(", "): float(value) for name, value in re.findall(r"([a-z ,]+?) ([0-9.]+) s", body)}
    note = re.search(r"compute [0-9.]+ s \(([^)]*)\)", body)
    phases["note"] = note.group(1) if note else ""
    peak = re.search(r"peak memory ([0-9]+) MiB", body)
    return phases, int(peak.group(1)) * 2**20 if peak else 0


def median_phases(args, repeat):
    runs = [timings(args) for _ in range(repeat)]
    result = {key: statistics.median(run[0][key] for run in runs) for key in runs[0][0] if key != "note"}
    result["note"] = runs[0][0]["note"]
    result["rss"] = max(run[1] for run in runs)
    return result


def whole_process(command, repeat):
    return median_time(lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL), repeat)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="512 and 2048 only, fewer repeats")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    options = parser.parse_args()
    sizes = [512, 2048] if options.quick else [512, 2048, 4096]
    kernels = [3, 7, 15, 31, 63]
    repeat = 3 if options.quick else 5

    subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="convcalc-bench-")
    rng = np.random.default_rng(20261124)
    images, kernel_files = {}, {}
    for n in sizes:
        images[n] = rng.standard_normal((n, n))
        path = os.path.join(work, f"img{n}.txt")
        np.savetxt(path, images[n], fmt="%.17g")
    for k in kernels:
        kernel_files[k] = rng.standard_normal((k, k))
        np.savetxt(os.path.join(work, f"k{k}.txt"), kernel_files[k], fmt="%.17g")

    lines = []
    targets = []  # (what, measured ratio, required ratio)

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    say("# convcalc run: benchmark results")
    say()
    say(f"Produced by `python3 bench/run.py{' --quick' if options.quick else ''}` on {time.strftime('%Y-%m-%d')}; "
        f"numpy {np.__version__}, scipy {scipy.__version__}" + (f", opencv {cv2.__version__}" if cv2 else "") +
        f"; {os.cpu_count()} CPUs. float64, 'same' output, zero padding; medians of {repeat} runs "
        "(1 for peers slower than 5 s). Ratios are peer time / convcalc time: above 1, convcalc is faster.")
    say()
    say("## Compute (convcalc: the `compute` phase of `--timings`)")
    say()
    say("convcalc runs once per process, so its output memory is fresh; the first write to it is timed apart as "
        "`allocate` (shown in its own column). The peers run in a loop inside one Python process and reuse "
        "memory already touched, so the fair comparison is with `compute` alone.")
    say()
    say("| N | K | convcalc auto | method | allocate | direct | fft | correlate2d | × | ndimage | × | cv2.filter2D | × | fftconvolve | × | oaconvolve | × |")
    say("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        x = images[n]
        for k in kernels:
            kernel = kernel_files[k]
            files = ["--p", "same", os.path.join(work, f"img{n}.txt"), os.path.join(work, f"k{k}.txt")]
            macs = n * n * k * k
            own = {}
            for method in ["auto", "direct", "fft"]:
                if method == "direct" and macs > 3e10:
                    own[method] = None
                    continue
                own[method] = median_phases(["--method", method] + files, repeat if n < 4096 else 3)
            auto = own["auto"]["compute"]

            def peer(function, estimate_slow=False):
                if estimate_slow:
                    return None
                once = median_time(function, 1)
                return once if once > 5 else min(once, median_time(function, repeat - 1))

            slow = macs / 1.5e9  # correlate2d runs at about 1-2 GFLOP/s
            peers = [
                peer(lambda: scipy.signal.correlate2d(x, kernel, "same"), estimate_slow=slow > 20 or k > 15),
                peer(lambda: scipy.ndimage.correlate(x, kernel, mode="constant"), estimate_slow=slow / 3 > 20 or k > 15),
                peer(lambda: cv2.filter2D(x, -1, kernel, borderType=cv2.BORDER_CONSTANT)) if cv2 else None,
                peer(lambda: scipy.signal.fftconvolve(x, kernel[::-1, ::-1], "same")),
                peer(lambda: scipy.signal.oaconvolve(x, kernel[::-1, ::-1], "same")),
            ]
            cells = []
            for value in peers:
                cells += ["–", "–"] if value is None else [f"{value * 1e3:.1f} ms", f"{value / auto:.1f}"]
            fmt = lambda p: "–" if p is None else f"{p['compute'] * 1e3:.1f} ms"
            names = ["correlate2d", "ndimage", "cv2.filter2D", "fftconvolve"]
            needed = {"correlate2d": 10, "ndimage": 3, "cv2.filter2D": 1} if k <= 15 else {"fftconvolve": 1}
            for name, value in zip(names, peers[:4]):
                if name in needed and value is not None and (k <= 15 or n >= 2048):
                    targets.append((f"compute {n}², K {k}: × {name}", value / auto, needed[name]))
            say(f"| {n} | {k} | {auto * 1e3:.1f} ms | {own['auto']['note'].split(',')[0]} | {own['auto']['allocate'] * 1e3:.1f} ms | {fmt(own['direct'])} | {fmt(own['fft'])} | " + " | ".join(cells) + " |")
    say()
    say("– : not run (correlate2d and ndimage would take minutes at these sizes; direct beyond 3·10^10 MACs).")
    say()

    # Agreement of the two methods on one large case.
    n, k = 2048, 31
    outputs = {}
    for method in ["direct", "fft"]:
        path = os.path.join(work, f"out-{method}.txt")
        subprocess.run([BINARY, "run", "--method", method, "--p", "same", os.path.join(work, f"img{n}.txt"),
                        os.path.join(work, f"k{k}.txt"), "-o", path], check=True)
        outputs[method] = np.loadtxt(path)
    reference = scipy.signal.correlate2d(images[n], kernel_files[k], "same")
    scale = np.abs(reference).max()
    say(f"Agreement at {n}², K = {k}, relative to the largest value: direct vs SciPy "
        f"{np.abs(outputs['direct'] - reference).max() / scale:.1e}, fft vs SciPy "
        f"{np.abs(outputs['fft'] - reference).max() / scale:.1e}, direct vs fft "
        f"{np.abs(outputs['direct'] - outputs['fft']).max() / scale:.1e}.")
    say()

    # Text: parsing and printing 2048².
    n = 2048
    path = os.path.join(work, f"img{n}.txt")
    size = os.path.getsize(path)
    phases = median_phases(["--p", "same", path, os.path.join(work, "k3.txt")], repeat)
    load = median_time(lambda: np.loadtxt(path), 3)
    result = scipy.signal.correlate2d(images[n], kernel_files[3], "same")
    save = median_time(lambda: np.savetxt(os.path.join(work, "saved.txt"), result, fmt="%.17g"), 3)
    out_path = os.path.join(work, "convcalc-out.txt")
    subprocess.run([BINARY, "run", "--p", "same", path, os.path.join(work, "k3.txt"), "-o", out_path], check=True)
    out_size = os.path.getsize(out_path)
    printed = np.loadtxt(out_path)
    exact = bool(np.array_equal(printed, result) or np.abs(printed - result).max() <= 1e-12 * np.abs(result).max())
    say(f"## Text ({n}×{n}, {size / 1e6:.0f} MB of `%.17g` text in, {out_size / 1e6:.0f} MB shortest round-trip text out)")
    say()
    say("convcalc's print time is its `format and write` phase with standard output on /dev/null "
        "(printing in parts on both cores, each part written as soon as it is ready).")
    say()
    say("| phase | convcalc | NumPy | × |")
    say("| --- | --- | --- | --- |")
    targets.append(("parse: × np.loadtxt", load / phases['parse input'], 5))
    targets.append(("print: × np.savetxt", save / phases['format and write'], 8))
    say(f"| parse | {phases['parse input'] * 1e3:.0f} ms ({size / phases['parse input'] / 1e6:.0f} MB/s) | np.loadtxt {load * 1e3:.0f} ms ({size / load / 1e6:.0f} MB/s) | {load / phases['parse input']:.1f} |")
    say(f"| print | {phases['format and write'] * 1e3:.0f} ms ({out_size / phases['format and write'] / 1e6:.0f} MB/s) | np.savetxt('%.17g') {save * 1e3:.0f} ms | {save / phases['format and write']:.1f} |")
    say()
    say(f"convcalc's output read back by np.loadtxt equals the doubles SciPy computes to rounding: {exact} "
        "(every printed value reads back to the double convcalc computed; tested bit for bit in NumberTextTests).")
    say()

    # Whole process.
    script = os.path.join(work, "convolve.py")
    with open(script, "w") as f:
        f.write(NUMPY_SCRIPT)
    say("## Whole process (load a text matrix, correlate with 3×3 'same', save as text)")
    say()
    say("| N | convcalc run | NumPy/SciPy script | × | convcalc peak RSS | input + output doubles + text |")
    say("| --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        path = os.path.join(work, f"img{n}.txt")
        ours = whole_process([BINARY, "run", "--p", "same", path, os.path.join(work, "k3.txt"), "-o", out_path], repeat)
        theirs = whole_process([sys.executable, script, path, os.path.join(work, "k3.txt"), os.path.join(work, "np-out.txt")],
                               3 if n < 4096 else 1)
        rss = median_phases(["--p", "same", path, os.path.join(work, "k3.txt"), "-o", out_path], 1)["rss"]   # VmHWM
        budget = 2 * n * n * 8 + os.path.getsize(path) + os.path.getsize(out_path)
        if n == 2048:
            targets.append(("whole process 2048², 3×3: × NumPy script", theirs / ours, 10))
        targets.append((f"peak memory {n}²: budget / RSS (3× allowed)", 3 * budget / rss, 1))
        say(f"| {n} | {ours * 1e3:.0f} ms | {theirs * 1e3:.0f} ms | {theirs / ours:.1f} | {rss / 2**20:.0f} MiB | {budget / 2**20:.0f} MiB ({rss / budget:.2f}×) |")
    say()

    # Start-up.
    hello_dir = os.path.join(work, "hello")
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
    say("## Start-up (median of 300 spawns, each waited for)")
    say()
    say(f"`convcalc shape --k 3 --in 32` {ours * 1e3:.2f} ms; a Swift hello world built the same way (swift build -c release) "
        f"{hello * 1e3:.2f} ms; /bin/true {true * 1e3:.2f} ms. Ratio {ours / hello:.2f} "
        f"({(ours - true) / (hello - true):.2f} counting only the time beyond /bin/true's).")
    say()
    targets.append(("start-up: 1.3 × hello world / convcalc", 1.3 * hello / ours, 1))
    say("## Targets of issue #9")
    say()
    say("| target | measured | needed | met |")
    say("| --- | --- | --- | --- |")
    for what, value, needed in targets:
        say(f"| {what} | {value:.2f} | ≥ {needed} | {'yes' if value >= needed else '**no**'} |")
    say()
    with open(options.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"written to {options.out}")


if __name__ == "__main__":
    main()
