"""Cold start: wall time of fresh `assistant` processes on an existing index.

Rows: `assistant --help`, `assistant list`, a one-shot `assistant ask "..."`, and `assistant serve`
until its page answers HTTP 200 (skipped when `assistant serve --help` fails). The index is the
cached seed + 1k-passage index (bench.corpus). One untimed ask first makes sure the ONNX export
of the model exists, as it does after any first use. Also reports the CPU seconds the child
used, which a busy machine inflates less than wall time. Targets: help/list <= 0.5 s,
ask <= 5 s, serve <= 8 s.

    python -m bench.coldstart [--runs 5] [--passages 1000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.common import offline, stop, table, write_results
from bench.corpus import cached_index

TARGETS = {"help": 0.5, "list": 0.5, "ask": 5.0, "serve": 8.0}
QUESTION = "Where did the defense ministers meet?"


def command() -> list[str]:
    """The installed console script, else the module."""
    found = shutil.which("assistant")
    return [found] if found else [sys.executable, "-m", "assistant.cli"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(args: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process to completion; fails loudly on a non-zero exit."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return wall, _children_cpu() - cpu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_once(base: list[str], index_dir: Path, env: dict, timeout: float = 120.0) -> tuple[float, float]:
    """Seconds from starting `assistant serve` to its page answering HTTP 200; then stop it."""
    port = free_port()
    cpu = _children_cpu()
    start = time.perf_counter()
    process = subprocess.Popen([*base, "serve", "--index-dir", str(index_dir), "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"assistant serve exited {process.returncode}: {process.stderr.read()[-500:]}")
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"assistant serve did not answer within {timeout:.0f} s")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        wall = time.perf_counter() - start
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.05)
    finally:
        stop(process)
    return wall, _children_cpu() - cpu


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--passages", type=int, default=1000, help="synthetic passages in the index")
    parser.add_argument("--skip-serve", action="store_true")
    parser.add_argument("--results", type=Path, default=None, help="results folder [bench/results]")
    parser.add_argument("--cache", type=Path, default=None, help="index cache folder [bench/cache]")
    args = parser.parse_args(argv)
    offline()
    index_dir = cached_index(args.passages, cache_dir=args.cache)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    base = command()
    index = ["--index-dir", str(index_dir)]
    cases = {
        "help": [*base, "--help"],
        "list": [*base, "list", *index],
        "ask": [*base, "ask", *index, QUESTION],
    }
    run_once(cases["ask"], env)  # writes the ONNX export if this machine never had it
    has_serve = subprocess.run([*base, "serve", "--help"], env=env, capture_output=True).returncode == 0
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    if has_serve and not args.skip_serve:
        timings["serve"] = []
    for _ in range(args.runs):  # interleaved, so a burst of load hits every row alike
        for name, case in cases.items():
            timings[name].append(run_once(case, env))
        if "serve" in timings:
            timings["serve"].append(serve_once(base, index_dir, env))
    rows = []
    for name, runs in timings.items():
        wall = [w for w, _ in runs]
        cpu = [c for _, c in runs]
        median = statistics.median(wall)
        rows.append({"command": name, "runs": len(runs), "median_s": round(median, 3), "min_s": round(min(wall), 3),
                     "max_s": round(max(wall), 3), "cpu_median_s": round(statistics.median(cpu), 3),
                     "target_s": TARGETS[name], "met": median <= TARGETS[name]})
    if "serve" not in timings:
        rows.append({"command": "serve", "runs": 0, "target_s": TARGETS["serve"],
                     "met": "skipped: " + ("--skip-serve" if has_serve else "`assistant serve --help` fails")})
    print(table(rows))
    data = {"rows": rows, "index_dir": str(index_dir), "command": base,
            "commands": {name: " ".join(case) for name, case in cases.items()}}
    print("wrote", write_results("coldstart", data, args.results))
    return data


if __name__ == "__main__":
    main()
