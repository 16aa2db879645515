"""`assistant eval`: retrieval and answer quality on a question file like tests/data/seed_qa.jsonl."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from .errors import AssistantError


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def read_questions(path: Path | str) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise AssistantError(f"{path}: no such question file; give a .jsonl file of questions")
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise AssistantError(f"{path}:{number}: not JSON ({error.msg}); one object per line") from None
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise AssistantError(f"{path}:{number}: each line needs a \"question\" string")
        questions.append(item)
    return questions


def supports(evidence: str, quote: str) -> bool:
    """At least 80% of the evidence's words are in the quote."""
    words = _words(evidence)
    have = set(_words(quote))
    return bool(words) and sum(w in have for w in words) / len(words) >= 0.8


def evaluate(assistant, questions: list[dict], k: int = 5) -> dict:
    rows = []
    for item in questions:
        result = assistant.ask(item["question"], item.get("history") or [], k=k)
        evidence = [_norm(e) for e in item.get("evidence") or []]
        passages = [_norm(hit.text) for hit in result.passages]
        answerable = bool(item.get("answerable", True))
        row = {"id": item.get("id"), "question": item["question"], "answerable": answerable,
               "answered": result.answered, "answer": result.answer, "search_query": result.search_query}
        if answerable and evidence:
            row["recall"] = float(all(any(e in p for p in passages) for e in evidence))
            first = next((i for i, p in enumerate(passages) if any(e in p for e in evidence)), None)
            row["mrr"] = 0.0 if first is None else 1.0 / (first + 1)
        if answerable:
            answer = _norm(result.answer) if result.answered else ""
            row["correct"] = float(any(_norm(a) in answer for a in item.get("answers") or []))
            row["supported"] = float(any(supports(e, c.quote) for e in item.get("evidence") or [] for c in result.citations))
        row["abstention_ok"] = float(result.answered == answerable)
        texts = assistant.store.catalog.texts({c.doc_id for c in result.citations})
        row["quotes"] = [len(c.quote) for c in result.citations]
        row["faithful"] = [texts.get(c.doc_id, "")[c.start:c.end] == c.quote for c in result.citations]
        rows.append(row)

    def mean(key):
        values = [r[key] for r in rows if key in r]
        return round(sum(values) / len(values), 4) if values else None

    quotes = [n for r in rows for n in r["quotes"]]
    faithful = [f for r in rows for f in r["faithful"]]
    summary = {
        "questions": len(rows),
        "k": k,
        f"recall@{k}": mean("recall"),
        "mrr": mean("mrr"),
        "answer_accuracy": mean("correct"),
        "citation_support": mean("supported"),
        "abstention_accuracy": mean("abstention_ok"),
        "faithfulness": round(sum(faithful) / len(faithful), 4) if faithful else 1.0,
        "median_quote_chars": statistics.median(quotes) if quotes else 0,
    }
    return {"summary": summary, "questions": rows}
