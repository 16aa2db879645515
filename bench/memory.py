"""Peak memory (RSS): serving an index of 10k passages, and ingesting 10k passages.

Rows, each in a fresh process:
- `assistant serve` on the cached seed + 10k-passage index: peak RSS of the process tree from
  start until the page answers HTTP 200, then while it stays up `--idle` seconds;
- a warm `Assistant` process on the same index asking 50 questions (what serve does per
  question, without the browser);
- `Assistant.ingest` of a folder of synthetic articles making 10k passages, with the real model
  (no embedding cache: the model runs as it does for a user). This one takes minutes.
Target: <= 1.5 GB for serve.

    python -m bench.memory [--passages 10000] [--ingest-passages 10000] [--skip-serve] [--skip-ingest]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.coldstart import command, free_port
from bench.common import offline, stop, table, write_results
from bench.corpus import cached_index, synthetic

TARGET_MB = 1536


def _peak_self_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child_ask(index_dir: str, questions: int) -> dict:
    from assistant.api import Assistant
    from bench.query import questions as some_questions

    assistant = Assistant(index_dir, seed=False)
    assistant.warm()
    asked = some_questions()
    for i in range(questions):
        assistant.ask(asked[i % len(asked)])
    return {"peak_rss_mb": round(_peak_self_mb(), 1), "torch_loaded": "torch" in sys.modules}


def child_ingest(folder: str, index_dir: str) -> dict:
    from assistant.api import Assistant

    assistant = Assistant(index_dir, seed=False)
    start = time.perf_counter()
    report = assistant.ingest([folder])
    return {"peak_rss_mb": round(_peak_self_mb(), 1), "articles": len(report.added),
            "passages": sum(item["passages"] for item in report.added),
            "seconds": round(time.perf_counter() - start, 1)}


def _run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.memory", *args], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"bench.memory {args[0]} failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def serve_peak(index_dir: Path, idle: float, timeout: float = 180.0) -> dict:
    """Peak RSS of `assistant serve` (and any children) until ready and `idle` seconds after."""
    import psutil

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    process = subprocess.Popen([*command(), "serve", "--index-dir", str(index_dir), "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, ready_at, start = 0, None, time.perf_counter()
    try:
        watched = psutil.Process(process.pid)
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"assistant serve exited {process.returncode}")
            try:
                tree = [watched, *watched.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            now = time.perf_counter() - start
            if ready_at is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                        if response.status == 200:
                            ready_at = now
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    pass
                if now > timeout:
                    raise RuntimeError(f"assistant serve did not answer within {timeout:.0f} s")
            elif now - ready_at >= idle:
                break
            time.sleep(0.1)
    finally:
        stop(process)
    return {"peak_rss_mb": round(peak / 2**20, 1), "ready_s": round(ready_at, 1)}


def write_articles(folder: Path, passages: int, seed: int = 1) -> int:
    """Synthetic articles as .txt files with a Title: header; returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    articles = synthetic(passages, seed)
    for i, article in enumerate(articles):
        (folder / f"article-{i:05d}.txt").write_text(f"Title: {article.title}\n\n{article.text}\n", encoding="utf-8")
    return len(articles)


def main(argv: list[str] | None = None) -> dict:
    if argv is None and len(sys.argv) > 1 and sys.argv[1].startswith("--child-"):
        offline()
        kind, *rest = sys.argv[1:]
        result = child_ask(rest[0], int(rest[1])) if kind == "--child-ask" else child_ingest(*rest)
        print(json.dumps(result))
        return result
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=10000, help="synthetic passages in the served index")
    parser.add_argument("--ingest-passages", type=int, default=10000)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds to keep watching serve once ready")
    parser.add_argument("--skip-serve", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--results", type=Path, default=None, help="results folder [bench/results]")
    parser.add_argument("--cache", type=Path, default=None, help="index cache folder [bench/cache]")
    args = parser.parse_args(argv)
    offline()
    index_dir = cached_index(args.passages, cache_dir=args.cache)
    rows = []
    has_serve = subprocess.run([*command(), "serve", "--help"], capture_output=True).returncode == 0
    if has_serve and not args.skip_serve:
        rows.append({"process": f"assistant serve, {args.passages} passages", **serve_peak(index_dir, args.idle)})
    rows.append({"process": f"warm Assistant, {args.passages} passages, {args.questions} asks",
                 **_run_child("--child-ask", str(index_dir), str(args.questions))})
    if not args.skip_ingest:
        work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
        try:
            write_articles(work / "articles", args.ingest_passages)
            rows.append({"process": f"Assistant.ingest, {args.ingest_passages} passages",
                         **_run_child("--child-ingest", str(work / "articles"), str(work / "index"))})
        finally:
            shutil.rmtree(work, ignore_errors=True)
    for row in rows:
        row["target_mb"] = TARGET_MB if "serve" in row["process"] or "warm" in row["process"] else ""
        if row["target_mb"]:
            row["met"] = row["peak_rss_mb"] <= TARGET_MB
    print(table(rows))
    data = {"rows": rows, "index_dir": str(index_dir)}
    print("wrote", write_results("memory", data, args.results))
    return data


if __name__ == "__main__":
    main()
