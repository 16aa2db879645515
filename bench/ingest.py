"""Ingest throughput: `Assistant.ingest` against bare `SentenceTransformer.encode` of the same texts.

The library ingests a folder (default /work/shared/data/current_events) into a fresh temporary
index; a recording wrapper keeps exactly the texts it sends to the model (passages and
sentences, deduplicated per group as `Assistant._add` does). Then the bare model encodes that
same list in one call with the same settings, in the same process, after one untimed warm-up
of both; the side that runs first alternates. The ratio bare time / pipeline time is the share
of bare throughput the pipeline keeps (target >= 0.90).

    python -m bench.ingest [--source DIR] [--runs 3] [--limit N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Timer, offline, table, write_results
from bench.corpus import CURRENT_EVENTS


class Recording:
    """Passes encode() through to the model, keeping the texts and the time spent in the model."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.texts: list[str] = []
        self.seconds = 0.0

    @property
    def texts_encoded(self) -> int:
        return self.inner.texts_encoded

    def encode(self, texts):
        start = time.perf_counter()
        try:
            return self.inner.encode(texts)
        finally:
            self.seconds += time.perf_counter() - start
            self.texts += texts


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=CURRENT_EVENTS, help="folder of articles [current_events]")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first [1]")
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument("--results", type=Path, default=None, help="results folder [bench/results]")
    args = parser.parse_args(argv)
    offline()
    from assistant.api import Assistant
    from assistant.embeddings import MiniLM

    source = args.source
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        if args.limit:
            source = work / "source"
            source.mkdir()
            for path in sorted(args.source.glob("*.txt"))[: args.limit]:
                shutil.copy(path, source / path.name)
        embeddings = MiniLM()
        model = embeddings.model  # loaded (and the ONNX export written) before any timing
        model.encode(["warm up"] * 8, normalize_embeddings=True)

        def ingest(run: str):
            recording = Recording(embeddings)
            assistant = Assistant(work / f"index-{run}", embeddings=recording, seed=False)
            with Timer() as t:
                report = assistant.ingest([str(source)])
            return t, recording, report

        def encode(texts: list[str]) -> Timer:
            normalised = [" ".join(text.split()) for text in texts]  # as MiniLM.encode does
            with Timer() as t:
                model.encode(normalised, batch_size=embeddings.batch_size, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)
            return t

        # Untimed: torch sets up its kernels for each new batch shape once per process, and
        # whichever side ran first would pay for both.
        for _ in range(args.warmup):
            _, recording, _ = ingest("warmup")
            encode(recording.texts)
        pipeline, bare, in_model, ratios, cpu_ratios = [], [], [], [], []
        texts: list[str] = []
        report = None
        for run in range(args.runs):
            if run % 2:  # alternate which side runs first
                b = encode(texts)
                t, recording, report = ingest(str(run))
            else:
                t, recording, report = ingest(str(run))
                texts = recording.texts
                b = encode(texts)
            pipeline.append(t.seconds)
            in_model.append(recording.seconds)
            bare.append(b.seconds)
            ratios.append(b.seconds / t.seconds)
            cpu_ratios.append(b.cpu / t.cpu)  # CPU seconds: less swayed by other processes' load
            print(f"run {run + 1}: pipeline {t.seconds:.1f} s (model {recording.seconds:.1f} s), "
                  f"bare encode {b.seconds:.1f} s, ratio {b.seconds / t.seconds:.3f} (CPU time ratio {b.cpu / t.cpu:.3f})",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    articles = len(report.added)
    passages = sum(item["passages"] for item in report.added)
    median_pipeline, median_bare = statistics.median(pipeline), statistics.median(bare)
    rows = [
        {"what": "Assistant.ingest", "median_s": median_pipeline, "min_s": min(pipeline), "max_s": max(pipeline),
         "articles_per_s": articles / median_pipeline, "passages_per_s": passages / median_pipeline,
         "texts_per_s": len(texts) / median_pipeline},
        {"what": "  of which model.encode", "median_s": statistics.median(in_model), "min_s": min(in_model),
         "max_s": max(in_model)},
        {"what": "bare ST.encode", "median_s": median_bare, "min_s": min(bare), "max_s": max(bare),
         "articles_per_s": articles / median_bare, "passages_per_s": passages / median_bare,
         "texts_per_s": len(texts) / median_bare},
    ]
    print(table(rows))
    summary = {
        "source": str(args.source), "runs": args.runs, "articles": articles, "passages": passages,
        "texts_embedded": len(texts), "texts_per_article": round(len(texts) / max(articles, 1), 2),
        "passages_per_article": round(passages / max(articles, 1), 2),
        "ratio_median": round(statistics.median(ratios), 3), "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3), "cpu_ratio_median": round(statistics.median(cpu_ratios), 3),
        "target_ratio": 0.90,
    }
    print(f"\n{articles} articles, {passages} passages, {len(texts)} texts embedded "
          f"({summary['texts_per_article']} per article); pipeline/bare throughput ratio "
          f"{summary['ratio_median']} (min {summary['ratio_min']}, max {summary['ratio_max']}; target >= 0.90); "
          f"CPU-time ratio {summary['cpu_ratio_median']}")
    data = {"summary": summary, "rows": rows, "pipeline_s": pipeline, "bare_s": bare, "model_s": in_model}
    print("wrote", write_results("ingest", data, args.results))
    return data


if __name__ == "__main__":
    main()
