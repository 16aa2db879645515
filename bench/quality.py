"""Answer quality side by side: LangChain's tutorial pipeline against this project.

The tutorial pipeline, built here with the same model and the same articles: LangChain
`RecursiveCharacterTextSplitter` (1000 characters, 200 overlap), the same MiniLM, langchain-chroma's
`Chroma`, top-5 similarity search; its "answer" is its top chunk. This project: `Assistant.ask`.

Question sets and indexes:
- seed_qa (tests/data/seed_qa.jsonl) on the seed alone, and on the seed + current_events + the
  XQuAD en paragraphs as distractors (`assistant.evaluate` for the project);
- XQuAD en dev, each paragraph an article: recall@5 = a top-5 passage/chunk is from the question's
  paragraph and holds a gold answer; answer accuracy = a gold answer inside the answer text;
- cross-lingual: XQuAD zh questions over the en paragraphs (gold = the en answers), as it stands.
Metrics: recall@5, MRR, answer accuracy, median citation length (characters).
Vectors come from the embedding cache (bench.corpus.CachedEmbeddings): identical to the model's.

    python -m bench.quality [--xquad-limit N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from bench.common import SEED_QA, offline, table, write_results
from bench.corpus import (CURRENT_EVENTS, XQUAD, CachedEmbeddings, current_events_articles, seed_articles,
                          xquad_paragraphs)

K = 5


def norm(text: str) -> str:
    return " ".join(text.lower().split())


# -- the tutorial pipeline ----------------------------------------------------------------

class Tutorial:
    """RecursiveCharacterTextSplitter(1000, 200) + MiniLM + langchain-chroma Chroma, top-k."""

    def __init__(self, articles, embeddings, directory: Path, name: str):
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        documents = [Document(page_content=a.text, metadata={"source": a.source, "title": a.title}) for a in articles]
        self.chunks = splitter.split_documents(documents)
        self.store = Chroma(collection_name=name, embedding_function=embeddings, persist_directory=str(directory))
        ids = [f"{name}-{i}" for i in range(len(self.chunks))]
        for i in range(0, len(self.chunks), 2000):  # under Chroma's largest batch
            self.store.add_documents(self.chunks[i:i + 2000], ids=ids[i:i + 2000])

    def search(self, question: str, k: int = K):
        return self.store.similarity_search(question, k=k)


# -- scoring ------------------------------------------------------------------------------

def score_seed_qa(items: list[dict], retrieve) -> dict:
    """For the tutorial pipeline, the metrics `assistant eval` computes, with the top chunk as answer."""
    rows = []
    for item in items:
        chunks = retrieve(item["question"])
        texts = [norm(c.page_content) for c in chunks]
        evidence = [norm(e) for e in item.get("evidence") or []]
        row = {"answerable": bool(item.get("answerable", True)),
               "chunk_chars": len(chunks[0].page_content) if chunks else 0}
        if row["answerable"] and evidence:
            row["recall"] = float(all(any(e in t for t in texts) for e in evidence))
            first = next((i for i, t in enumerate(texts) if any(e in t for e in evidence)), None)
            row["mrr"] = 0.0 if first is None else 1.0 / (first + 1)
        if row["answerable"]:
            top = texts[0] if texts else ""
            row["correct"] = float(any(norm(a) in top for a in item.get("answers") or []))
        rows.append(row)
    return _summary(rows, abstention=sum(r["answerable"] for r in rows) / max(len(rows), 1))


def score_xquad(questions: list[dict], retrieve_answer) -> dict:
    """questions: {"question", "source", "answers"}; retrieve_answer(q) -> ([(source, text)], answer, chars, answered)."""
    rows = []
    for q in questions:
        passages, answer, chars, answered = retrieve_answer(q["question"])
        gold = [norm(a) for a in q["answers"]]
        hits = [i for i, (source, text) in enumerate(passages) if source == q["source"] and any(g in norm(text) for g in gold)]
        rows.append({"recall": float(bool(hits)), "mrr": 1.0 / (hits[0] + 1) if hits else 0.0,
                     "correct": float(answered and any(g in norm(answer) for g in gold)),
                     "answered": answered, "chunk_chars": chars})
    return _summary(rows)


def _summary(rows: list[dict], abstention: float | None = None) -> dict:
    def mean(key):
        values = [r[key] for r in rows if key in r]
        return round(sum(values) / len(values), 4) if values else None

    chars = [r["chunk_chars"] for r in rows if r.get("chunk_chars")]
    out = {"questions": len(rows), f"recall@{K}": mean("recall"), "mrr": mean("mrr"),
           "answer_accuracy": mean("correct"), "median_citation_chars": statistics.median(chars) if chars else 0}
    if abstention is not None:
        out["abstention_accuracy"] = round(abstention, 4)
    if rows and "answered" in rows[0]:
        out["answered"] = round(sum(r["answered"] for r in rows) / len(rows), 4)
    return out


def xquad_questions(lang: str, limit: int | None = None, paragraphs: int | None = None) -> list[dict]:
    """XQuAD questions in `lang`, with the en paragraph's source and the en gold answers."""
    en = {qa["id"]: (p["source"], [a["text"] for a in qa["answers"]]) for p in xquad_paragraphs("en") for qa in p["qas"]}
    out = []
    for p in xquad_paragraphs(lang, limit=paragraphs):
        for qa in p["qas"]:
            source, answers = en[qa["id"]]
            out.append({"id": qa["id"], "question": qa["question"], "source": source, "answers": answers})
    return out[:limit] if limit else out


# -- the project --------------------------------------------------------------------------

def project_index(directory: Path, embeddings, *, seed: bool, current_events: bool, xquad: bool,
                  paragraphs: int | None = None):
    from assistant.api import Assistant

    assistant = Assistant(directory, embeddings=embeddings, seed=seed)
    if current_events and CURRENT_EVENTS.is_dir():
        assistant.ingest([str(CURRENT_EVENTS)])
    if xquad:
        for p in xquad_paragraphs("en", limit=paragraphs):
            assistant.add_text(p["context"], p["title"], p["source"])
    return assistant


def project_xquad(assistant):
    def run(question: str):
        result = assistant.ask(question, k=K)
        chars = statistics.median([len(c.quote) for c in result.citations]) if result.citations else 0
        return [(h.source, h.text) for h in result.passages], result.answer, chars, result.answered
    return run


def tutorial_xquad(tutorial: Tutorial):
    def run(question: str):
        chunks = tutorial.search(question)
        top = chunks[0].page_content if chunks else ""
        return [(c.metadata["source"], c.page_content) for c in chunks], top, len(top), True
    return run


def tutorial_articles(seed: bool, current_events: bool, xquad: bool, paragraphs: int | None = None):
    from assistant.articles import Article

    articles = list(seed_articles()) if seed else []
    if current_events and CURRENT_EVENTS.is_dir():
        articles += current_events_articles()
    if xquad:
        articles += [Article(p["title"], p["source"], p["context"]) for p in xquad_paragraphs("en", limit=paragraphs)]
    return articles


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=SEED_QA, help="seed question file [tests/data/seed_qa.jsonl]")
    parser.add_argument("--xquad-limit", type=int, default=None, help="only the first N XQuAD questions")
    parser.add_argument("--paragraphs", type=int, default=None, help="only the first N XQuAD paragraphs")
    parser.add_argument("--no-distractors", action="store_true", help="skip the seed + distractors index")
    parser.add_argument("--results", type=Path, default=None, help="results folder [bench/results]")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder [bench/cache]")
    args = parser.parse_args(argv)
    offline()
    from assistant.evaluate import evaluate, read_questions

    embeddings = CachedEmbeddings(path=args.cache / "embeddings.sqlite" if args.cache else None)
    items = read_questions(args.questions)
    has_xquad = (XQUAD / "xquad.en.dev.json").is_file()
    work = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    rows = []
    try:
        setups = [("seed_qa / seed", dict(seed=True, current_events=False, xquad=False, paragraphs=args.paragraphs))]
        if not args.no_distractors:
            setups.append(("seed_qa / seed+distractors", dict(seed=True, current_events=True, xquad=has_xquad,
                                                                       paragraphs=args.paragraphs)))
        for i, (name, corpus) in enumerate(setups):
            assistant = project_index(work / f"project-{i}", embeddings, **corpus)
            summary = evaluate(assistant, items, k=K)["summary"]
            rows.append({"set": name, "pipeline": "project", "questions": summary["questions"],
                         f"recall@{K}": summary[f"recall@{K}"], "mrr": summary["mrr"],
                         "answer_accuracy": summary["answer_accuracy"],
                         "abstention_accuracy": summary["abstention_accuracy"],
                         "citation_support": summary["citation_support"], "faithfulness": summary["faithfulness"],
                         "median_citation_chars": summary["median_quote_chars"]})
            tutorial = Tutorial(tutorial_articles(**corpus), embeddings, work / f"tutorial-{i}", f"tutorial{i}")
            rows.append({"set": name, "pipeline": "tutorial", **score_seed_qa(items, tutorial.search)})
            print(table(rows[-2:]), flush=True)
        if has_xquad:
            assistant = project_index(work / "project-xquad", embeddings, seed=False, current_events=False, xquad=True,
                                      paragraphs=args.paragraphs)
            tutorial = Tutorial(tutorial_articles(False, False, True, args.paragraphs), embeddings,
                                work / "tutorial-xquad", "tutorialx")
            for lang in ("en", "zh"):
                if not (XQUAD / f"xquad.{lang}.dev.json").is_file():
                    continue
                name = "xquad en" if lang == "en" else "xquad zh questions / en paragraphs"
                questions = xquad_questions(lang, args.xquad_limit, args.paragraphs)
                rows.append({"set": name, "pipeline": "project", **score_xquad(questions, project_xquad(assistant))})
                rows.append({"set": name, "pipeline": "tutorial", **score_xquad(questions, tutorial_xquad(tutorial))})
                print(table(rows[-2:]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    columns = ["set", "pipeline", "questions", f"recall@{K}", "mrr", "answer_accuracy", "abstention_accuracy",
               "median_citation_chars"]
    print(table(rows, columns))
    data = {"rows": rows, "k": K, "questions_file": str(args.questions)}
    print("wrote", write_results("quality", data, args.results))
    return data


if __name__ == "__main__":
    main()
