"""Peak extra memory (RSS) of ``fit`` and ``score_samples`` against n, for every detector.

Issue 18 item 5 sets the targets: scoring 20,000 32x32x3 uint8 images must
peak at no more than 1.5x the input plus a constant that does not grow with
n, and fitting 50,000 such images (CIFAR's training-set size) at no more
than 2x the input. This script measures both for each detector named in
:data:`skssad.profiles.DETECTORS`.

Every measurement runs in its own Python process, so that no allocator
cache, torch pool or fitted net of an earlier measurement is counted. In
that process the input is made first (uint8 noise of the final dtype, drawn
in place, so no int64 copy), the detector is built from its profile and,
for a score measurement, fitted on a small set; a warm-up call on a few
samples then initialises torch's kernels and thread pools (a constant, not
the cost of n). Then ``gc.collect()`` and glibc's ``malloc_trim(0)`` hand
free memory back, the kernel's peak-RSS mark is reset to the current RSS
(``/proc/self/clear_refs`` ``5``, Linux >= 4.0) and the measured call runs;
peak extra RSS is ``VmHWM`` after the call minus ``VmRSS`` before it. The
kernel keeps that mark, so short spikes between samples are not missed.

For each detector and phase the table also fits ``extra = constant +
slope x input`` over the n measured (least squares); the slope is the
figure the targets bound (1.5 for scoring, 2 for fitting).

Video detectors (``frame_permutation``) get ``n // frames`` videos of
``frames`` 32x32x3 frames, so every row of one n holds the same number of
bytes of input.

Example (what the committed baseline ran)::

    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.memory \\
        --detectors geometric igd --score-n 1000 5000 20000 --fit-n 500 2000 \\
        --out benchmarks/results/memory_baseline
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import gc
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: Detectors that take videos ``(n, T, H, W, C)`` instead of images.
VIDEO_DETECTORS = frozenset({"frame_permutation"})
IMAGE_SHAPE = (32, 32, 3)
MB = 2 ** 20


# --------------------------------------------------------------------------- child side
def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key} (Linux only).")


def _release_free_memory() -> None:
    gc.collect()
    try:  # glibc: return free heap pages to the OS so they do not hide a new peak
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the figure is then an upper bound
        pass


def _peak_extra(call) -> tuple[float, float, float]:
    """``(rss before MB, peak extra MB, seconds)`` of ``call()``."""
    _release_free_memory()
    before = _status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    t0 = time.perf_counter()
    call()
    seconds = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    return before / 1024, (peak - before) / 1024, seconds


def _make_input(name: str, n: int, frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if name in VIDEO_DETECTORS:
        return rng.integers(0, 256, (max(n // frames, 1), frames, *IMAGE_SHAPE), dtype=np.uint8)
    return rng.integers(0, 256, (n, *IMAGE_SHAPE), dtype=np.uint8)


def _child(spec: dict) -> dict:
    import torch

    from skssad import profiles

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    name, phase, n = spec["detector"], spec["phase"], spec["n"]
    X = _make_input(name, n, spec["frames"], seed=1)
    small = _make_input(name, spec["fit_n_for_score"], spec["frames"], seed=2)
    warm = small[: max(len(small) // 4, 2)]

    def build():
        return profiles.make_detector(name, spec["profile"], random_state=0, ensemble=1,
                                      **spec["overrides"])

    det = build()
    if phase == "score":
        det.fit(small)
        det.score_samples(warm)  # warm-up: kernels and pools, not the cost of n
        before, extra, seconds = _peak_extra(lambda: det.score_samples(X))
    else:
        build().fit(warm)  # warm-up fit on another instance, then the measured fit
        before, extra, seconds = _peak_extra(lambda: det.fit(X))
    return dict(detector=name, phase=phase, profile=spec["profile"], n=n, samples=len(X),
                input_mb=X.nbytes / MB,
                rss_before_mb=before, peak_extra_mb=extra, extra_over_input=extra * MB / X.nbytes,
                seconds=seconds, params=json.dumps(det.get_params(deep=False), default=str,
                                                   sort_keys=True))


# --------------------------------------------------------------------------- parent side
def _run_one(spec: dict, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.memory", "--child", json.dumps(spec)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    row = dict(detector=spec["detector"], phase=spec["phase"], profile=spec["profile"],
               n=spec["n"])
    try:
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(row, error=f"timed out after {timeout:.0f} s")
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return dict(row, error=f"exit {out.returncode}: {tail}")
    return json.loads(lines[-1])


def _fits(rows) -> list[dict]:
    """``extra = constant + slope * input`` per detector and phase (least squares)."""
    import pandas as pd

    df = pd.DataFrame([r for r in rows if "error" not in r])
    out = []
    for (det, phase), g in df.groupby(["detector", "phase"], sort=False):
        if len(g) >= 2:
            slope, const = np.polyfit(g.input_mb, g.peak_extra_mb, 1)
        else:
            slope, const = float("nan"), float("nan")
        out.append(dict(detector=det, phase=phase, points=len(g), slope=slope,
                        constant_mb=const, max_extra_over_input=g.extra_over_input.max(),
                        target=1.5 if phase == "score" else 2.0))
    return out


def _provenance(argv) -> dict:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        sha += " (uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        sha = "unknown"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    machine = (f"{cpu}, {os.cpu_count()} logical CPUs, OMP_NUM_THREADS={threads}, {cuda}, "
               f"{platform.system()} {platform.release()}, torch {torch.__version__}")
    command = "python -m benchmarks.memory " + " ".join(shlex.quote(a) for a in argv)
    return dict(command=command, git=sha, machine=machine,
                date=f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")


def _markdown_table(df, floatfmt=".2f") -> str:
    cols = list(df.columns)

    def cell(v) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(False)]
    return "\n".join(lines)


def _write(rows, fits, prov, args, stem: Path, total: int) -> None:
    import pandas as pd

    per_run = pd.DataFrame(rows)
    for k, v in prov.items():
        per_run[k] = v
    per_run["frames"] = args.frames
    per_run.to_csv(stem.with_suffix(".csv"), index=False)
    pd.DataFrame(fits).assign(**prov).to_csv(stem.parent / f"{stem.name}_fit.csv", index=False)
    shown = [c for c in ("detector", "phase", "profile", "n", "samples", "input_mb",
                         "rss_before_mb", "peak_extra_mb", "extra_over_input", "seconds", "error")
             if c in per_run]
    text = [
        "# Peak extra RSS of fit and score_samples against n",
        "",
        f"- Command: `{prov['command']}`",
        f"- git: {prov['git']}",
        f"- Machine: {prov['machine']}",
        f"- Date: {prov['date']}",
        f"- Profile: `{args.profile}` (`auto`: tiny where a detector has it, else quick; "
        "each row names the one it ran); overrides "
        + (json.dumps(_overrides(args)) if args.set else "none"),
        f"- Input: uint8 noise, {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}x{IMAGE_SHAPE[2]} images; "
        f"video detectors get n // {args.frames} videos of {args.frames} frames. Score "
        f"rows: fitted first on {args.fit_n_for_score} samples. Fit rows: "
        f"`max_epochs={args.fit_epochs}`.",
        "- Method: one process per row; after a warm-up call, `gc.collect()`, "
        "`malloc_trim(0)`, peak-RSS mark reset via `/proc/self/clear_refs`; "
        "peak extra = `VmHWM` after the call - `VmRSS` before it (see the module "
        "docstring). The input itself is not counted.",
    ]
    if len(rows) < total:
        text.append(f"- Partial: {len(rows)} of {total} measurements so far.")
    text += [
        "",
        "## Per measurement",
        "",
        _markdown_table(per_run[shown].astype(object).fillna("")),
        "",
        "## extra = constant + slope x input (least squares over n)",
        "",
        "Targets (issue 18): slope <= 1.5 for score (20,000 images), <= 2 for fit "
        "(50,000 images).",
        "",
        _markdown_table(pd.DataFrame(fits)) if fits else "(no successful rows)",
        "",
        f"CSV: `{stem.name}.csv` (every row, with the detector parameters) and "
        f"`{stem.name}_fit.csv`.",
    ]
    tmp = stem.with_suffix(".md.tmp")
    tmp.write_text("\n".join(text) + "\n")
    os.replace(tmp, stem.with_suffix(".md"))


def _overrides(args) -> dict:
    out = {}
    for item in args.set or ():
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _profile_for(name: str, profile: str) -> str:
    from skssad import profiles

    if profile != "auto":
        return profile
    return "tiny" if "tiny" in profiles.PROFILES.get(name, {}) else "quick"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--detectors", nargs="+", default=None,
                   help="names in skssad.profiles.DETECTORS (default: all)")
    p.add_argument("--profile", default="auto", help="'auto' (tiny, else quick) or a name")
    p.add_argument("--score-n", type=int, nargs="*", default=[1000, 5000, 20000])
    p.add_argument("--fit-n", type=int, nargs="*", default=[500, 2000])
    p.add_argument("--fit-epochs", type=int, default=1,
                   help="max_epochs of fit rows and of the fit before score rows")
    p.add_argument("--fit-n-for-score", type=int, default=128)
    p.add_argument("--frames", type=int, default=16, help="frames per video")
    p.add_argument("--set", nargs="*", metavar="KEY=JSON", help="detector overrides")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per measurement")
    p.add_argument("--out", default=str(RESULTS / "memory"), help="output stem")
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))), flush=True)
        return 0

    from skssad import profiles

    names = args.detectors or list(profiles.DETECTORS)
    unknown = sorted(set(names) - set(profiles.DETECTORS))
    if unknown:
        p.error(f"unknown detectors {unknown}; expected names of {sorted(profiles.DETECTORS)}")
    overrides = dict(_overrides(args), max_epochs=args.fit_epochs)
    plan = [dict(detector=name, phase=phase, n=n, profile=_profile_for(name, args.profile),
                 overrides=overrides, frames=args.frames, fit_n_for_score=args.fit_n_for_score)
            for name in names for phase, ns in (("fit", args.fit_n), ("score", args.score_n))
            for n in ns]
    stem = Path(args.out)
    stem.parent.mkdir(parents=True, exist_ok=True)
    prov = _provenance(argv)
    rows = []
    for spec in plan:
        row = _run_one(spec, args.timeout)
        rows.append(row)
        shown = (f"extra {row['peak_extra_mb']:.1f} MB = "
                 f"{row['extra_over_input']:.2f} x input {row['input_mb']:.1f} MB, "
                 f"{row['seconds']:.1f} s" if "error" not in row else row["error"])
        print(f"{spec['detector']:>18} {spec['phase']:>5} n={spec['n']:<6} {shown}", flush=True)
        # Rewritten after every row, so a long run stopped early keeps what it measured.
        fits = _fits(rows) if any("error" not in r for r in rows) else []
        _write(rows, fits, prov, args, stem, total=len(plan))
    print(f"wrote {stem.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
