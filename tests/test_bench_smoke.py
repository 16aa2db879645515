"""Each bench runs end to end on a few passages and writes its JSON. Figures are not checked here:
benchmarks are not tests. Caches and results go to temporary folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
needs_current_events = pytest.mark.skipif(not (SHARED / "current_events").is_dir(), reason="no shared current_events")
needs_xquad = pytest.mark.skipif(not (SHARED / "xquad").is_dir(), reason="no shared XQuAD")

CASES = [
    pytest.param("corpus", ["--sizes", "40", "--build", "40"], ["corpora", "sentence_pool", "indexes"], id="corpus"),
    pytest.param("query", ["--sizes", "40", "--runs", "3"], ["rows", "plot"], id="query"),
    pytest.param("coldstart", ["--runs", "1", "--passages", "40", "--skip-serve"], ["rows", "commands"],
                 id="coldstart"),
    pytest.param("memory", ["--passages", "40", "--ingest-passages", "20", "--questions", "2", "--skip-serve"],
                 ["rows"], id="memory"),
    pytest.param("ingest", ["--limit", "1", "--runs", "1"], ["summary", "rows", "pipeline_s", "bare_s"],
                 id="ingest", marks=needs_current_events),
    pytest.param("quality", ["--no-distractors", "--paragraphs", "2", "--xquad-limit", "3"], ["rows", "k"],
                 id="quality", marks=needs_xquad),
    pytest.param("calibrate", ["--paragraphs", "2", "--xquad-limit", "3", "--thresholds", "0.3", "0.5"],
                 ["tables", "confidence", "current_threshold"], id="calibrate", marks=needs_xquad),
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One embedding/index cache for the module, so the small index is embedded once."""
    return tmp_path_factory.mktemp("bench-cache")


@pytest.mark.parametrize("name, argv, keys", CASES)
def test_bench_runs_and_writes_json(name, argv, keys, tmp_path, cache):
    import importlib

    bench = importlib.import_module(f"bench.{name}")
    cache_flag = [] if name == "ingest" else ["--cache", str(cache)]
    data = bench.main([*argv, "--results", str(tmp_path), *cache_flag])
    written = json.loads((tmp_path / f"{name}.json").read_text())
    for key in ["bench", "machine", *keys]:
        assert key in written, f"{name}.json lacks {key!r}"
    assert written["machine"]["cores"] >= 1
    assert set(keys) <= set(data)


def test_bench_query_reports_both_paths(tmp_path, cache):
    from bench import query

    data = query.main(["--sizes", "40", "--runs", "2", "--results", str(tmp_path), "--cache", str(cache)])
    assert {row["path"] for row in data["rows"]} == {"ask", "search"}
    for row in data["rows"]:
        assert {"median_ms", "p95_ms", "min_ms", "max_ms", "passages"} <= set(row)
        assert row["passages"] >= 40


def test_bench_cached_embeddings_match_model(tmp_path, embeddings):
    from bench.corpus import CachedEmbeddings

    cached = CachedEmbeddings(embeddings, path=tmp_path / "cache.sqlite")
    texts = ["The ministers met in Singapore.", "The meeting lasted 75 minutes.", "The ministers met in Singapore."]
    first = cached.encode(texts)
    assert cached.texts_encoded == 2  # the repeated text is embedded once
    again = CachedEmbeddings(embeddings, path=tmp_path / "cache.sqlite").encode(texts)
    assert (first == again).all()
    assert (first * embeddings.encode(texts)).sum(axis=1).min() > 1 - 1e-4


def test_bench_synthetic_corpus_is_deterministic():
    from bench.corpus import describe, synthetic

    first, second = synthetic(60, seed=3), synthetic(60, seed=3)
    assert [a.text for a in first] == [a.text for a in second]
    assert [a.text for a in synthetic(60, seed=4)] != [a.text for a in first]
    assert describe(first)["passages"] >= 60
