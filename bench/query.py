"""Warm query latency: the full `Assistant.ask` path and retrieval alone (`Assistant.search`).

Indexes of the seed plus 1k, 10k and 100k synthetic passages of real sentences (bench.corpus,
built once and cached under bench/cache/). Questions: the seed questions and XQuAD en questions,
cycled. Each size: open the index, warm up (model, Chroma, a few questions), then time every
call. Targets: at 10k median <= 60 ms and p95 <= 150 ms; at 100k median <= 100 ms.
Writes bench/results/query.json and query.png (latency against passages).

    python -m bench.query [--sizes 1000 10000 100000] [--runs 200] [--profile]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.common import RESULTS_DIR, SEED_QA, offline, stats, table, write_results
from bench.corpus import XQUAD, cached_index, xquad_paragraphs

TARGETS = {10000: {"median_ms": 60, "p95_ms": 150}, 100000: {"median_ms": 100}}


def questions(limit: int = 100) -> list[str]:
    """Seed questions then XQuAD en questions: real questions of several shapes."""
    found = [json.loads(line)["question"] for line in SEED_QA.read_text().splitlines() if line.strip()]
    if (XQUAD / "xquad.en.dev.json").is_file():
        found += [qa["question"] for p in xquad_paragraphs("en") for qa in p["qas"]][::10]
    return found[:limit]


def measure(assistant, asked: list[str], runs: int, warmup: int = 5) -> dict:
    assistant.warm()
    for question in asked[:warmup]:
        assistant.ask(question)
    timings = {"ask": [], "search": []}
    for i in range(runs):
        question = asked[i % len(asked)]
        start = time.perf_counter()
        assistant.ask(question)
        timings["ask"].append(time.perf_counter() - start)
        start = time.perf_counter()
        assistant.search(question)
        timings["search"].append(time.perf_counter() - start)
    return timings


def profile(assistant, asked: list[str], runs: int, path: Path) -> None:
    """pyinstrument over `runs` asks, saved as text (where the time goes)."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    for i in range(runs):
        assistant.ask(asked[i % len(asked)])
    profiler.stop()
    path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))


def plot(rows: list[dict], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): no plot"
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for what, style, color in (("ask", "-o", "tab:blue"), ("search", "--s", "tab:green")):
        points = [r for r in rows if r["path"] == what]
        x = [r["passages"] for r in points]
        ax.plot(x, [r["median_ms"] for r in points], style, color=color, label=f"{what} median")
        ax.plot(x, [r["p95_ms"] for r in points], style, color=color, alpha=0.4, label=f"{what} p95")
    ax.set_xscale("log")
    ax.set_xlabel("passages in the index")
    ax.set_ylabel("warm latency (ms)")
    ax.set_title("Query latency against index size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.query", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="passages")
    parser.add_argument("--runs", type=int, default=200, help="timed questions per size")
    parser.add_argument("--profile", action="store_true", help="also profile the asks with pyinstrument")
    parser.add_argument("--results", type=Path, default=None, help="results folder [bench/results]")
    parser.add_argument("--cache", type=Path, default=None, help="index cache folder [bench/cache]")
    args = parser.parse_args(argv)
    offline()
    from assistant.api import Assistant
    from assistant.embeddings import MiniLM

    results_dir = Path(args.results or RESULTS_DIR)
    results_dir.mkdir(parents=True, exist_ok=True)
    asked = questions()
    embeddings = MiniLM()
    rows, profiles = [], {}
    for size in args.sizes:
        index_dir = cached_index(size, cache_dir=args.cache)
        assistant = Assistant(index_dir, embeddings=embeddings, seed=False)
        passages = assistant.store.catalog.passage_count()
        timings = measure(assistant, asked, args.runs)
        for what in ("ask", "search"):
            row = {"path": what, "size": size, "passages": passages, **stats(timings[what])}
            target = TARGETS.get(size, {})
            row["target"] = ", ".join(f"{k.split('_')[0]} <= {v}" for k, v in target.items()) if what == "ask" else ""
            if what == "ask" and target:
                row["met"] = all(row[k] <= v for k, v in target.items())
            rows.append(row)
        if args.profile:
            path = results_dir / f"query-profile-{size}.txt"
            profile(assistant, asked, min(args.runs, 100), path)
            profiles[str(size)] = str(path)
        print(table([r for r in rows if r["size"] == size]), flush=True)
        assistant.store.catalog.db.close()
    print()
    print(table(rows, ["path", "passages", "runs", "median_ms", "p95_ms", "min_ms", "max_ms", "target", "met"]))
    note = plot(rows, results_dir / "query.png")
    print(note or f"plot: {results_dir / 'query.png'}")
    data = {"rows": rows, "questions": len(asked), "profiles": profiles, "plot": note or str(results_dir / "query.png")}
    print("wrote", write_results("query", data, results_dir))
    return data


if __name__ == "__main__":
    main()
