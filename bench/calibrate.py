"""Calibrate the abstention threshold (assistant.answer.ANSWER_THRESHOLD).

Question sets:
- seed_qa (tests/data/seed_qa.jsonl) on the seed: its `answerable` flags say which is which;
- XQuAD en questions on an index of the XQuAD en paragraphs: answerable;
- the same XQuAD questions on an index of only the seed: unanswerable.
Each question is retrieved once (as `Assistant.ask` does), then answered at every threshold.
Per threshold: answerable questions answered correctly (a gold answer in the answer text),
answered wrongly, wrongly abstained; unanswerable questions wrongly answered; and the
abstention accuracy (`answered` == `answerable`). `Answer.confidence` is the best sentence's score.

    python -m bench.calibrate [--xquad-limit 300] [--thresholds 0.30 0.32 ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

from bench.common import SEED_QA, offline, table, write_results
from bench.corpus import XQUAD, CachedEmbeddings
from bench.quality import norm, project_index, xquad_questions

DEFAULT_THRESHOLDS = [round(0.30 + 0.02 * i, 2) for i in range(16)]


def outcomes(assistant, questions: list[dict], thresholds: list[float]) -> list[dict]:
    """Per question: answerable, confidence, and per threshold whether it answered and correctly."""
    from assistant import answer as answering
    from assistant import retrieve

    rows = []
    for q in questions:
        retrieval = assistant.search(retrieve.rewrite(q["question"], []))
        at = {}
        confidence = None
        for t in thresholds:
            result = answering.answer(assistant.store, retrieval, q["question"], threshold=t)
            confidence = result.confidence
            correct = result.answered and any(norm(a) in norm(result.answer) for a in q.get("answers") or [])
            at[t] = (result.answered, correct)
        rows.append({"set": q["set"], "answerable": q["answerable"], "confidence": confidence, "at": at})
    return rows


def tally(rows: list[dict], thresholds: list[float]) -> list[dict]:
    table_rows = []
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    for t in thresholds:
        correct = sum(r["at"][t][1] for r in answerable)
        answered_wrong = sum(r["at"][t][0] and not r["at"][t][1] for r in answerable)
        abstained = sum(not r["at"][t][0] for r in answerable)
        wrongly_answered = sum(r["at"][t][0] for r in unanswerable)
        right = sum(r["at"][t][0] == r["answerable"] for r in rows)
        table_rows.append({
            "threshold": t, "answered_correctly": correct, "answered_wrongly": answered_wrong,
            "wrongly_abstained": abstained, "wrongly_answered": wrongly_answered,
            "correct_share": round(correct / max(len(answerable), 1), 3),
            "abstention_accuracy": round(right / max(len(rows), 1), 3),
        })
    return table_rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=SEED_QA)
    parser.add_argument("--xquad-limit", type=int, default=300, help="XQuAD questions per set (0: all)")
    parser.add_argument("--paragraphs", type=int, default=None, help="only the first N XQuAD paragraphs")
    parser.add_argument("--thresholds", type=float, nargs="+", default=DEFAULT_THRESHOLDS)
    parser.add_argument("--results", type=Path, default=None, help="results folder [bench/results]")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder [bench/cache]")
    args = parser.parse_args(argv)
    offline()
    from assistant.answer import ANSWER_THRESHOLD

    thresholds = sorted(set(args.thresholds) | {ANSWER_THRESHOLD})
    embeddings = CachedEmbeddings(path=args.cache / "embeddings.sqlite" if args.cache else None)
    seed_items = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    seed_qs = [{"set": "seed_qa", "question": i["question"], "answers": i.get("answers") or [],
                "answerable": bool(i.get("answerable", True))} for i in seed_items]
    work = Path(tempfile.mkdtemp(prefix="bench-calibrate-"))
    rows = []
    try:
        seed_only = project_index(work / "seed", embeddings, seed=True, current_events=False, xquad=False)
        rows += outcomes(seed_only, seed_qs, thresholds)
        if (XQUAD / "xquad.en.dev.json").is_file():
            xq = xquad_questions("en", args.xquad_limit or None, args.paragraphs)
            answerable = [{"set": "xquad", "question": q["question"], "answers": q["answers"], "answerable": True} for q in xq]
            unrelated = [{"set": "xquad-on-seed", "question": q["question"], "answers": [], "answerable": False} for q in xq]
            xquad_index = project_index(work / "xquad", embeddings, seed=False, current_events=False, xquad=True,
                                        paragraphs=args.paragraphs)
            rows += outcomes(xquad_index, answerable, thresholds)
            rows += outcomes(seed_only, unrelated, thresholds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {"all": tally(rows, thresholds)}
    for name in dict.fromkeys(r["set"] for r in rows):
        results[name] = tally([r for r in rows if r["set"] == name], thresholds)
    for name, table_rows in results.items():
        count = sum(1 for r in rows if name == "all" or r["set"] == name)
        print(f"\n{name} ({count} questions; current ANSWER_THRESHOLD = {ANSWER_THRESHOLD})")
        print(table(table_rows))
    confidences = {}
    for name in dict.fromkeys(r["set"] for r in rows):
        values = [r["confidence"] for r in rows if r["set"] == name and r["confidence"] is not None]
        if values:
            confidences[name] = {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
                                 "max": round(max(values), 3)}
    print("\nconfidence by set:", json.dumps(confidences))
    data = {"current_threshold": ANSWER_THRESHOLD, "tables": results, "confidence": confidences,
            "questions": {name: sum(1 for r in rows if r["set"] == name) for name in dict.fromkeys(r["set"] for r in rows)}}
    print("wrote", write_results("calibrate", data, args.results))
    return data


if __name__ == "__main__":
    main()
