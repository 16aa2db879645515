"""`Assistant`: the Python API the CLI and the UI share."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from . import answer as answering
from . import retrieve
from .articles import Article, from_text, iter_sources, load
from .errors import AssistantError, SourceError
from .passages import make_passages, split_sentences
from .settings import Settings
from .store import ArticleRecord, Store

# Articles are embedded and stored in groups of about this many characters of text (~1,000
# texts to embed: every character is in one sentence and one passage). Big groups let the model
# sort texts by length into well-filled batches and spread Chroma's fixed cost per write; small
# enough that progress moves and an interruption loses little.
GROUP_CHARS = 100_000


@dataclass
class IngestReport:
    """What `ingest` did with each source (`assistant ingest --json` prints `to_json()`).

        added    {"doc_id", "title", "source", "passages"}, plus "replaced": [old doc_ids] when
                 the article is a changed version of one already indexed from the same source
        skipped  {"source", "reason"}, plus "doc_id" (the article it repeats) for a duplicate
        failed   {"source", "error"}
    """

    added: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"added": self.added, "skipped": self.skipped, "failed": self.failed}


def embed_articles(articles: list[Article], embeddings) -> list[tuple]:
    """Split articles and embed all their passages and sentences in one model call, each distinct
    text once; returns (article, passages, sentences, passage_vectors, sentence_vectors) each."""
    splits = []
    texts: list[str] = []
    for article in articles:
        sentences = split_sentences(article.text)
        passages = make_passages(article.text, sentences)
        splits.append((sentences, passages))
        texts += [p.text for p in passages] + [s.text for s in sentences]
    unique = list(dict.fromkeys(texts))  # a one-sentence passage is embedded once
    vectors = embeddings.encode(unique)
    row = {text: i for i, text in enumerate(unique)}
    return [
        (article, passages, sentences, vectors[[row[p.text] for p in passages]], vectors[[row[s.text] for s in sentences]])
        for article, (sentences, passages) in zip(articles, splits)
    ]


class Assistant:
    """An index of news articles that answers questions with verified quotes.

    >>> assistant = Assistant(index_dir="index")
    >>> assistant.ask("Where did the defense ministers meet?").answer
    """

    def __init__(self, index_dir: Path | str | None = None, *, settings: Settings | None = None,
                 embeddings=None, seed: bool | None = None):
        self.settings = settings or Settings()
        if index_dir is not None:
            self.settings = self.settings.model_copy(update={"index_dir": Path(index_dir)})
        if seed is not None:
            self.settings = self.settings.model_copy(update={"seed": seed})
        if embeddings is None:
            from .embeddings import MiniLM

            embeddings = MiniLM()
        self.embeddings = embeddings
        self.store = Store(self.settings.index_dir, embeddings)
        self._write_lock = threading.Lock()
        if self.settings.seed and self.store.is_new and self.settings.seeds_dir.is_dir():
            self.ingest([str(self.settings.seeds_dir)])

    # -- the index ------------------------------------------------------------------------

    def ingest(self, sources: Iterable[str], progress: Callable[[int, int, str], None] | None = None, *,
               names: dict[str, str] | None = None) -> IngestReport:
        """Add articles from files, folders and URLs; duplicates are skipped without embedding.

        `names` maps a file path to the source to record instead of the path (the UI's uploads
        sit in a temporary folder; it records `upload:ORIGINAL_NAME`).
        """
        report = IngestReport()
        expanded: list[str] = []
        for source in sources:
            for path, skip_reason in iter_sources(source):
                if skip_reason:
                    report.skipped.append({"source": path, "reason": skip_reason})
                else:
                    expanded.append(path)
        pending: list[Article] = []
        seen: dict[str, str] = {}
        # Group n+1 is read and embedded while group n is written: the writes (Chroma, catalog)
        # then cost little wall time beside the model. One writer keeps the groups in order.
        with self._write_lock, ThreadPoolExecutor(1, thread_name_prefix="assistant-store") as writer:
            writing: Future | None = None

            def flush(articles: list[Article]) -> None:
                nonlocal writing
                if not articles:
                    return
                self.store.collections  # a model mismatch or a half-done reindex fails here, before embedding
                embedded = embed_articles(articles, self.embeddings)
                if writing is not None:
                    writing.result()  # raises what the previous write raised
                writing = writer.submit(self._store, embedded, report)

            for i, source in enumerate(expanded):
                if progress:
                    progress(i, len(expanded), source)
                try:
                    article = load(source, max_bytes=self.settings.max_bytes, timeout=self.settings.fetch_timeout)
                except SourceError as error:
                    report.failed.append({"source": source, "error": str(error)})
                    continue
                if names and source in names and article.source == str(Path(source).resolve()):
                    article = replace(article, source=names[source])
                doc_id = article.doc_id
                if doc_id in seen or self.store.catalog.has(doc_id):
                    original = seen.get(doc_id) or self.store.catalog.article(doc_id).source
                    report.skipped.append({"source": source, "reason": f"duplicate of {doc_id} ({original})", "doc_id": doc_id})
                    continue
                seen[doc_id] = article.source
                pending.append(article)
                if sum(len(a.text) for a in pending) >= GROUP_CHARS:
                    flush(pending)
                    pending = []
            flush(pending)
            if writing is not None:
                writing.result()
            if progress:
                progress(len(expanded), len(expanded), "")
            self.store.mark_used()
        return report

    def add_text(self, text: str, title: str, source: str = "") -> IngestReport:
        """Add pasted text as an article (the UI's paste box)."""
        report = IngestReport()
        source = source or f"pasted:{title}"
        try:
            article = from_text(text, title, source)
        except SourceError as error:
            report.failed.append({"source": source, "error": str(error)})
            return report
        with self._write_lock:
            if self.store.catalog.has(article.doc_id):
                report.skipped.append({"source": source, "reason": f"duplicate of {article.doc_id}", "doc_id": article.doc_id})
            else:
                self._add([article], report)
                self.store.mark_used()
        return report

    def _add(self, articles: list[Article], report: IngestReport) -> None:
        """Embed a group of articles, then store them together."""
        if articles:
            self.store.collections  # a model mismatch or a half-done reindex fails here, before embedding
            self._store(embed_articles(articles, self.embeddings), report)

    def _store(self, embedded: list[tuple], report: IngestReport) -> None:
        """Write embedded articles; a changed article replaces the version from the same source."""
        replaced = {e[0].doc_id: [d for d in self.store.catalog.by_source(e[0].source) if d != e[0].doc_id]
                    for e in embedded}
        for record in self.store.add(embedded):
            for old in replaced[record.doc_id]:
                self.store.remove(old)
            entry = {"doc_id": record.doc_id, "title": record.title, "source": record.source, "passages": record.passages}
            if replaced[record.doc_id]:
                entry["replaced"] = replaced[record.doc_id]
            report.added.append(entry)

    def articles(self) -> list[ArticleRecord]:
        return self.store.catalog.articles()

    def article(self, doc_id: str) -> ArticleRecord:
        return self.store.catalog.article(doc_id)

    def remove(self, doc_id: str) -> ArticleRecord:
        with self._write_lock:
            return self.store.remove(doc_id)

    def reindex(self, progress: Callable[[int, int, str], None] | None = None) -> int:
        """Re-embed every article with the current model; returns the number of articles."""
        with self._write_lock:
            records = [self.store.catalog.article(r.doc_id) for r in self.store.catalog.articles()]
            self.store.reset_vectors()
            group: list[ArticleRecord] = []
            for i, record in enumerate(records):
                if progress:
                    progress(i, len(records), record.title)
                group.append(record)
                if sum(len(r.text) for r in group) >= GROUP_CHARS or i == len(records) - 1:
                    articles = [Article(r.title, r.source, r.text, r.published, r.meta or {}) for r in group]
                    self.store.add(embed_articles(articles, self.embeddings), added=[r.added for r in group])
                    group = []
            self.store.finish_reindex()
            return len(records)

    # -- questions ------------------------------------------------------------------------

    def search(self, query: str, k: int | None = None, doc_ids: list[str] | None = None) -> retrieve.Retrieval:
        return retrieve.search(self.store, self.embeddings, query, k or self.settings.top_k, doc_ids)

    def ask(self, question: str, history: list[dict] | None = None, *, k: int | None = None,
            doc_ids: list[str] | None = None) -> answering.Answer:
        """Answer from the indexed articles with verified quotes, or say they don't contain it."""
        question = " ".join((question or "").split())
        if not question:
            raise AssistantError("The question is empty: type a question about the indexed articles.")
        query = retrieve.rewrite(question, history)
        retrieval = self.search(query, k, doc_ids)
        return answering.answer(self.store, retrieval, question)

    def warm(self) -> None:
        """Load the model and open the index now, so the first question is fast."""
        self.embeddings.encode(["warm up"])
        self.store.collections
