"""`assistant ask` and `assistant eval` through the CLI: the JSON contract and the quality targets."""

from __future__ import annotations

import json

import pytest

from conftest import SEED_QA, SHARED

CITATION_KEYS = {"n": int, "doc_id": str, "title": str, "source": str, "quote": str, "start": int, "end": int}
PASSAGE_KEYS = {"doc_id": str, "title": str, "source": str, "text": str, "start": int, "end": int, "score": float}


def _stored_text(cli, index_dir, doc_id, cache={}):
    key = (str(index_dir), doc_id)
    if key not in cache:
        result = cli("show", doc_id, "--json", "--index-dir", index_dir)
        assert result.exit_code == 0, result.output
        cache[key] = json.loads(result.output)["text"]
    return cache[key]


def _check_contract(cli, index_dir, data):
    assert set(data) >= {"question", "search_query", "answer", "answered", "citations", "passages"}
    assert isinstance(data["question"], str) and isinstance(data["search_query"], str)
    assert isinstance(data["answer"], str) and isinstance(data["answered"], bool)
    for citation in data["citations"]:
        assert set(citation) == set(CITATION_KEYS)
        for key, kind in CITATION_KEYS.items():
            assert isinstance(citation[key], kind), key
        text = _stored_text(cli, index_dir, citation["doc_id"])
        assert text[citation["start"]:citation["end"]] == citation["quote"]
        assert f"[{citation['n']}]" in data["answer"]
    assert [c["n"] for c in data["citations"]] == list(range(1, len(data["citations"]) + 1))
    for passage in data["passages"]:
        assert set(passage) == set(PASSAGE_KEYS)
        for key, kind in PASSAGE_KEYS.items():
            assert isinstance(passage[key], kind), key
        assert _stored_text(cli, index_dir, passage["doc_id"])[passage["start"]:passage["end"]] == passage["text"]
    scores = [p["score"] for p in data["passages"]]
    assert scores == sorted(scores, reverse=True)


def test_ask_json_contract(cli, seeded_dir):
    result = cli("ask", "How long did the meeting last?", "--json", "--index-dir", seeded_dir)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    _check_contract(cli, seeded_dir, data)
    assert data["answered"] and "75 -minute" in data["answer"]
    assert len(data["passages"]) == 5


def test_ask_json_abstention(cli, seeded_dir):
    result = cli("ask", "Who won the 2024 US presidential election?", "--json", "--index-dir", seeded_dir)
    data = json.loads(result.output)
    _check_contract(cli, seeded_dir, data)
    assert data["answered"] is False and data["citations"] == []


def test_ask_text_output_lists_numbered_quotes(cli, seeded_dir):
    result = cli("ask", "Who is the spokesman of China's defense ministry?", "--index-dir", seeded_dir)
    assert result.exit_code == 0
    assert "Wu Qian" in result.output and "\n[1] \"" in result.output
    assert "Sino-US defense ministers meet in Singapore" in result.output


def test_ask_top_k_option(cli, seeded_dir):
    result = cli("ask", "Where was the meeting held?", "-k", "2", "--json", "--index-dir", seeded_dir)
    assert len(json.loads(result.output)["passages"]) == 2


def test_ask_jsonl_answers_each_line(cli, seeded_dir):
    lines = [
        {"id": "a", "question": "Where was the meeting held?"},
        {"id": "b", "question": "And who spoke for the Chinese side afterwards?",
         "history": [{"role": "user", "content": "How did China describe the Austin–Dong Jun meeting?"}]},
        {"question": "What is the capital of Australia?"},
    ]
    stdin = "\n".join(json.dumps(line) for line in lines) + "\n"
    result = cli("ask", "--jsonl", "-", "--index-dir", seeded_dir, input=stdin)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [o.get("id") for o in out] == ["a", "b", None]
    for data in out:
        _check_contract(cli, seeded_dir, data)
    assert "Singapore" in out[0]["answer"]
    assert out[1]["search_query"] != out[1]["question"] and "Wu Qian" in out[1]["answer"]
    assert out[2]["answered"] is False


@pytest.mark.parametrize("args,message", [
    (["ask"], "Give a QUESTION or --jsonl"),
    (["ask", "--doc", "ffffffffffffffff", "Where?"], "No article with id 'ffffffffffffffff'"),
    (["eval", "no-such-file.jsonl"], "no such question file"),
])
def test_ask_and_eval_bad_input(cli, seeded_dir, args, message):
    result = cli(*args, "--index-dir", seeded_dir)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_ask_jsonl_bad_line(cli, seeded_dir):
    result = cli("ask", "--jsonl", "-", "--index-dir", seeded_dir, input='{"question": "Where?"}\nnot json\n')
    assert result.exit_code == 1
    assert "line 2" in result.output


TARGETS = {"recall@5": 0.97, "answer_accuracy": 0.90, "citation_support": 0.90, "abstention_accuracy": 0.90}


def _check_targets(summary):
    for key, target in TARGETS.items():
        assert summary[key] >= target, (key, summary)
    assert summary["faithfulness"] == 1.0
    assert summary["median_quote_chars"] <= 300


def test_eval_seed_meets_targets(cli, seeded_dir):
    result = cli("eval", SEED_QA, "--json", "--index-dir", seeded_dir)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["summary"]["questions"] == 33
    _check_targets(report["summary"])


def test_eval_text_report(cli, seeded_dir):
    result = cli("eval", SEED_QA, "--index-dir", seeded_dir)
    assert "recall@5" in result.output and "faithfulness" in result.output and "d33" in result.output


@pytest.fixture(scope="module")
def distractor_dir(tmp_path_factory, embeddings):
    """The seed among distractors: current_events pages and XQuAD en paragraphs as articles."""
    events, xquad = SHARED / "data" / "current_events", SHARED / "data" / "xquad" / "xquad.en.dev.json"
    if not (events.is_dir() and xquad.is_file()):
        pytest.skip(f"shared data not found at {SHARED / 'data'}")
    from assistant import Assistant

    paragraphs = tmp_path_factory.mktemp("xquad-articles")
    for a, article in enumerate(json.loads(xquad.read_text())["data"]):
        for p, paragraph in enumerate(article["paragraphs"]):
            (paragraphs / f"{a:02d}-{p:02d}.txt").write_text(f"TITLE: {article['title']} ({p})\n\n{paragraph['context']}")
    index_dir = tmp_path_factory.mktemp("distractor-index")
    report = Assistant(index_dir, embeddings=embeddings).ingest([str(events), str(paragraphs)])
    assert not report.failed
    return index_dir


def test_eval_seed_among_distractors_meets_targets(cli, distractor_dir):
    result = cli("eval", SEED_QA, "--json", "--index-dir", distractor_dir)
    _check_targets(json.loads(result.output)["summary"])
