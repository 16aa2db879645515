"""The index: Chroma vectors plus a SQLite catalog that holds the articles and the lexical index.

    index_dir/
      chroma/          Chroma PersistentClient: collections `passages` (vector, text, offsets),
                       `sentences` (vector and article id), `articles` (text, metadata)
      catalog.sqlite   articles (text and metadata), passage and sentence offsets, and an FTS5
                       table of passage terms ranked with BM25

Chroma is the source of truth: its `articles` collection holds every article's text and
metadata, and the catalog is derived from it (passages and sentences are a deterministic split
of the text). `Store.sync()` brings the catalog in line with Chroma, which repairs an
interrupted write and is how several app instances sharing one `chroma run` server will keep
their lexical indexes consistent. Writes go to Chroma first (vectors, then the article record
that makes them live) and to the catalog last, in one transaction.

The catalog alone answers `list` and `show`, so those never import chromadb or a model.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .articles import Article
from .errors import ArticleNotFound, AssistantError, IndexMismatch
from .lexical import terms
from .passages import Passage, Sentence, make_passages, split_sentences

if TYPE_CHECKING:  # numpy is imported where vectors are handled: `list` and `show` never need it
    import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS articles (
    doc_id TEXT PRIMARY KEY, title TEXT, source TEXT, published TEXT, added TEXT,
    text TEXT, meta TEXT, passages INTEGER
);
CREATE INDEX IF NOT EXISTS articles_source ON articles (source);
CREATE TABLE IF NOT EXISTS passages (
    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE, doc_id TEXT, n INTEGER,
    start INTEGER, "end" INTEGER, sentences TEXT
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages (doc_id);
CREATE TABLE IF NOT EXISTS sentences (
    id TEXT PRIMARY KEY, doc_id TEXT, n INTEGER, start INTEGER, "end" INTEGER
);
CREATE INDEX IF NOT EXISTS sentences_doc ON sentences (doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS passage_terms USING fts5 (terms, tokenize = 'unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS passage_vocab USING fts5vocab (passage_terms, 'row');
"""
COLLECTIONS = ("passages", "sentences", "articles")
# BM25 scores every passage that holds any query term: on 100k passages a question's common
# words match tens of thousands. Past this many postings the most common terms are left out of
# the match (they weigh least in BM25). On the 100k-passage bench index this kept 98.8% of the
# lexical top 10 and cut that step's p95 from 211 to 113 ms; an index of fewer passages than
# this is never pruned.
LEXICAL_POSTINGS_BUDGET = 50_000
# (article, passages, sentences, passage vectors, sentence vectors), as `api.embed_articles` makes them
Embedded = tuple[Article, list[Passage], list[Sentence], "np.ndarray", "np.ndarray"]


@dataclass(frozen=True)
class ArticleRecord:
    doc_id: str
    title: str
    source: str
    published: str
    added: str
    passages: int
    text: str = ""
    meta: dict | None = None

    def summary(self) -> dict:
        return {
            "doc_id": self.doc_id, "title": self.title, "source": self.source,
            "published": self.published, "added": self.added, "passages": self.passages,
        }


@dataclass(frozen=True)
class StoredPassage:
    id: str
    doc_id: str
    n: int
    start: int
    end: int
    sentences: tuple[int, ...]


def passage_id(doc_id: str, n: int) -> str:
    return f"{doc_id}:{n}"


def sentence_id(doc_id: str, n: int) -> str:
    return f"{doc_id}:s{n}"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Catalog:
    """The SQLite half: articles, offsets and the BM25 index. Cheap to open."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.executescript(SCHEMA)
        self.lock = threading.RLock()

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection. One connection shared by threads aborts reads ("query
        aborted") while another thread writes: the UI answers questions during an ingestion."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA synchronous = NORMAL")
        return db

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def articles(self) -> list[ArticleRecord]:
        rows = self.db.execute(
            "SELECT doc_id, title, source, published, added, passages FROM articles ORDER BY added, title"
        ).fetchall()
        return [ArticleRecord(*row) for row in rows]

    def article(self, doc_id: str) -> ArticleRecord:
        row = self.db.execute(
            "SELECT doc_id, title, source, published, added, passages, text, meta FROM articles WHERE doc_id = ?",
            (doc_id,),
        ).fetchone()
        if row is None:
            raise ArticleNotFound(doc_id)
        return ArticleRecord(*row[:7], meta=json.loads(row[7] or "{}"))

    def has(self, doc_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM articles WHERE doc_id = ?", (doc_id,)).fetchone() is not None

    def doc_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT doc_id FROM articles")}

    def by_source(self, source: str) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT doc_id FROM articles WHERE source = ?", (source,))]

    def add(self, items: list[tuple[ArticleRecord, list[Passage], list[Sentence]]]) -> None:
        """Write articles with their passages, sentences and terms, in one transaction."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for record, passages, sentences in items:
                    self._add(record, passages, sentences)
                self._count_passages()
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _add(self, record: ArticleRecord, passages: list[Passage], sentences: list[Sentence]) -> None:
        doc_id = record.doc_id
        self._delete(doc_id)
        self.db.execute(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (doc_id, record.title, record.source, record.published, record.added,
             record.text, json.dumps(record.meta or {}), len(passages)),
        )
        self.db.executemany(
            "INSERT INTO sentences VALUES (?, ?, ?, ?, ?)",
            [(sentence_id(doc_id, s.n), doc_id, s.n, s.start, s.end) for s in sentences],
        )
        for p in passages:
            cursor = self.db.execute(
                "INSERT INTO passages (id, doc_id, n, start, \"end\", sentences) VALUES (?, ?, ?, ?, ?, ?)",
                (passage_id(doc_id, p.n), doc_id, p.n, p.start, p.end, ",".join(map(str, p.sentences))),
            )
            self.db.execute(
                "INSERT INTO passage_terms (rowid, terms) VALUES (?, ?)",
                (cursor.lastrowid, " ".join(terms(p.text))),
            )

    def delete(self, doc_id: str) -> None:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self._delete(doc_id)
                self._count_passages()
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _delete(self, doc_id: str) -> None:
        self.db.execute(
            "DELETE FROM passage_terms WHERE rowid IN (SELECT rowid FROM passages WHERE doc_id = ?)", (doc_id,)
        )
        for table in ("passages", "sentences", "articles"):
            self.db.execute(f"DELETE FROM {table} WHERE doc_id = ?", (doc_id,))

    def passages_by_id(self, ids: list[str]) -> dict[str, StoredPassage]:
        found = {}
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT id, doc_id, n, start, \"end\", sentences FROM passages WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = StoredPassage(*row[:5], tuple(int(x) for x in row[5].split(",") if x))
        return found

    def sentences_of(self, doc_id: str, numbers: list[int]) -> list[tuple[int, int, int]]:
        marks = ",".join("?" * len(numbers))
        return self.db.execute(
            f"SELECT n, start, \"end\" FROM sentences WHERE doc_id = ? AND n IN ({marks}) ORDER BY n",
            (doc_id, *numbers),
        ).fetchall()

    def texts(self, doc_ids: set[str]) -> dict[str, str]:
        out = {}
        for chunk in _chunks(sorted(doc_ids), 500):
            marks = ",".join("?" * len(chunk))
            out.update(self.db.execute(f"SELECT doc_id, text FROM articles WHERE doc_id IN ({marks})", chunk))
        return out

    def titles(self, doc_ids: set[str]) -> dict[str, tuple[str, str]]:
        out = {}
        for chunk in _chunks(sorted(doc_ids), 500):
            marks = ",".join("?" * len(chunk))
            for doc_id, title, source in self.db.execute(
                f"SELECT doc_id, title, source FROM articles WHERE doc_id IN ({marks})", chunk
            ):
                out[doc_id] = (title, source)
        return out

    def _count_passages(self) -> None:
        """Inside a write: keep the passage count in `meta` (counting 100k rows takes 2 ms, twice
        per question)."""
        self.set_meta("passages", str(self.db.execute("SELECT count(*) FROM passages").fetchone()[0]))

    def passage_count(self) -> int:
        stored = self.get_meta("passages")
        if stored is not None:
            return int(stored)
        return self.db.execute("SELECT count(*) FROM passages").fetchone()[0]  # an index from before the count

    def search(self, query_terms: list[str], k: int, doc_ids: list[str] | None = None) -> list[tuple[str, float]]:
        """BM25 over passage terms: [(passage id, score)], best first (higher is better)."""
        unique = list(dict.fromkeys(t for t in query_terms if t))
        if not unique:
            return []
        if self.passage_count() > LEXICAL_POSTINGS_BUDGET:
            unique = self._within_budget(unique)
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in unique)
        sql = (
            "SELECT p.id, -bm25(passage_terms) AS score FROM passage_terms JOIN passages p ON p.rowid = passage_terms.rowid "
            "WHERE passage_terms MATCH ?"
        )
        args: list = [match]
        if doc_ids:
            sql += f" AND p.doc_id IN ({','.join('?' * len(doc_ids))})"
            args += list(doc_ids)
        sql += " ORDER BY rank LIMIT ?"
        args.append(k)
        return [(row[0], row[1]) for row in self.db.execute(sql, args)]

    def _within_budget(self, unique: list[str]) -> list[str]:
        """The rarest query terms whose postings add up to LEXICAL_POSTINGS_BUDGET (at least one)."""
        df, _ = self.document_frequencies(unique)
        kept, postings = [], 0
        for term in sorted(unique, key=lambda t: df.get(t, 0)):
            if kept and postings + df.get(term, 0) > LEXICAL_POSTINGS_BUDGET:
                break
            kept.append(term)
            postings += df.get(term, 0)
        return kept

    def document_frequencies(self, query_terms: list[str]) -> tuple[dict[str, int], int]:
        """How many passages hold each term, and how many passages there are (for IDF)."""
        unique = list(dict.fromkeys(query_terms))
        if not unique:
            return {}, self.passage_count()
        marks = ",".join("?" * len(unique))
        rows = self.db.execute(f"SELECT term, doc FROM passage_vocab WHERE term IN ({marks})", unique)
        return dict(rows.fetchall()), self.passage_count()


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Store:
    """Catalog + Chroma. Chroma (and the embedding model) are only opened when needed."""

    def __init__(self, index_dir: Path | str, embeddings=None, *, chroma_client=None):
        self.index_dir = Path(index_dir)
        self.catalog = Catalog(self.index_dir / "catalog.sqlite")
        self.embeddings = embeddings
        self._client = chroma_client
        self._collections: dict | None = None
        self._lock = threading.RLock()

    @property
    def is_new(self) -> bool:
        """Never used: no article was ever added (the cue for seeding)."""
        return self.catalog.get_meta("created") is None

    def mark_used(self) -> None:
        if self.is_new:
            self.catalog.set_meta("created", now())

    # -- Chroma ---------------------------------------------------------------------------

    @property
    def collections(self) -> dict:
        with self._lock:
            if self._collections is None:
                collections = self._open_collections()
                if self.catalog.get_meta("reindexing"):
                    # Chroma is half empty: syncing now would drop the articles not yet re-embedded.
                    raise AssistantError(
                        f"The index at {self.index_dir} is half rebuilt: an `assistant reindex` did not "
                        f"finish. Run `assistant reindex --index-dir {self.index_dir}` again (no article is lost)."
                    )
                self._collections = collections
                self.sync()
        return self._collections

    def _open_collections(self, *, check_model: bool = True) -> dict:
        if self.embeddings is None:
            raise ValueError("Store needs an embeddings object to open Chroma")
        if self._client is None:
            # Lazy: chromadb takes a second to import; `list` and `show` never need it.
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            self._client = chromadb.PersistentClient(
                path=str(self.index_dir / "chroma"),
                settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
            )
        model = self.embeddings.name
        built_with = self.catalog.get_meta("embedding_model")
        if check_model and built_with and built_with != model:
            raise IndexMismatch(self.index_dir, built_with, model)
        collections = {}
        for name in COLLECTIONS:
            # embedding_function=None: we always pass vectors, and Chroma's default function
            # would download an ONNX model.
            collection = self._client.get_or_create_collection(
                name, embedding_function=None,
                metadata={"embedding_model": model, "hnsw:space": "cosine"},
            )
            stored = (collection.metadata or {}).get("embedding_model")
            if check_model and stored and stored != model:
                raise IndexMismatch(self.index_dir, stored, model)
            collections[name] = collection
        if built_with is None:
            self.catalog.set_meta("embedding_model", model)
        return collections

    def sync(self) -> dict:
        """Make the catalog mirror Chroma's `articles` collection; returns what changed."""
        articles = self._collections["articles"]
        if self.catalog.get_meta("passages") is None:  # an index from before the stored count
            with self.catalog.lock:
                self.catalog._count_passages()
        in_chroma = set(articles.get(include=[])["ids"])
        in_catalog = self.catalog.doc_ids()
        removed = sorted(in_catalog - in_chroma)
        for doc_id in removed:
            self._delete_vectors(doc_id)
            self.catalog.delete(doc_id)
        added = sorted(in_chroma - in_catalog)
        for chunk in _chunks(added, 100):
            got = articles.get(ids=chunk, include=["documents", "metadatas"])
            for doc_id, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                meta = dict(meta or {})
                record = ArticleRecord(
                    doc_id, meta.pop("title", ""), meta.pop("source", ""), meta.pop("published", ""),
                    meta.pop("added", ""), int(meta.pop("passages", 0)), text,
                    json.loads(meta.pop("meta", "{}")),
                )
                sentences = split_sentences(text)
                self.catalog.add([(record, make_passages(text, sentences), sentences)])
        return {"added": added, "removed": removed}

    def _delete_vectors(self, doc_id: str) -> None:
        collections = self._collections
        collections["articles"].delete(ids=[doc_id])
        collections["passages"].delete(where={"doc_id": doc_id})
        collections["sentences"].delete(where={"doc_id": doc_id})

    # -- writes ---------------------------------------------------------------------------

    def add(self, embedded: list[Embedded], added: list[str] | None = None) -> list[ArticleRecord]:
        """Store embedded articles (from `api.embed_articles`); `added` keeps their original
        dates (reindex). One Chroma write per collection for the whole group: each write has a
        fixed cost of ~15 ms, more than a few dozen vectors cost.

        The order makes a crash harmless: passage and sentence vectors first, then the article
        records that make them live, then the catalog. Ids derive from the article's text, so
        vectors left by an interrupted write are the ones a retry would write (`add` skips them).
        """
        import numpy as np

        if not embedded:
            return []
        stamp = now()
        records = [
            ArticleRecord(article.doc_id, article.title, article.source, article.published,
                          (added[i] if added else None) or stamp, len(items), article.text, article.meta)
            for i, (article, items, *_) in enumerate(embedded)
        ]
        passages = [(article.doc_id, p) for article, items, _, _, _ in embedded for p in items]
        self._write("passages", "add", [passage_id(doc_id, p.n) for doc_id, p in passages],
                    np.concatenate([e[3] for e in embedded]), documents=[p.text for _, p in passages],
                    metadatas=[{"doc_id": doc_id, "n": p.n, "start": p.start, "end": p.end} for doc_id, p in passages])
        # Sentences keep only their vector and article: their text is article.text[start:end]
        # (catalog offsets), and Chroma's full-text index of documents would double the write time.
        sentences = [(article.doc_id, s) for article, _, items, _, _ in embedded for s in items]
        self._write("sentences", "add", [sentence_id(doc_id, s.n) for doc_id, s in sentences],
                    np.concatenate([e[4] for e in embedded]), metadatas=[{"doc_id": doc_id} for doc_id, _ in sentences])
        centroids = np.stack([e[3].mean(axis=0) for e in embedded])
        centroids /= np.clip(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12, None)
        self._write("articles", "upsert", [r.doc_id for r in records], centroids, documents=[r.text for r in records],
                    metadatas=[{
                        "doc_id": r.doc_id, "title": r.title, "source": r.source, "published": r.published,
                        "added": r.added, "passages": r.passages, "meta": json.dumps(r.meta or {}),
                    } for r in records])
        self.catalog.add([(r, e[1], e[2]) for r, e in zip(records, embedded)])
        self.mark_used()
        return records

    def _write(self, name: str, method: str, ids: list[str], vectors: np.ndarray, **columns) -> None:
        """collection.add/upsert in batches of at most the client's maximum."""
        write = getattr(self.collections[name], method)  # opens the client first
        batch = self._client.get_max_batch_size()
        for i in range(0, len(ids), batch):
            write(ids=ids[i:i + batch], embeddings=vectors[i:i + batch],
                  **{key: values[i:i + batch] for key, values in columns.items()})

    def remove(self, doc_id: str) -> ArticleRecord:
        record = self.catalog.article(doc_id)
        with self._lock:
            self.collections  # open (and sync) before deleting
            self._delete_vectors(doc_id)
            self.catalog.delete(doc_id)
        return record

    def reset_vectors(self) -> None:
        """Drop every Chroma collection (for `reindex`); the catalog keeps the articles."""
        with self._lock:
            if self._client is None or self._collections is None:
                self._open_collections(check_model=False)
            self.catalog.set_meta("reindexing", now())  # until finish_reindex(): see `collections`
            for name in COLLECTIONS:
                try:
                    self._client.delete_collection(name)
                except Exception:  # noqa: BLE001 - a collection that does not exist is fine
                    pass
            self.catalog.set_meta("embedding_model", self.embeddings.name)
            self._collections = self._open_collections()

    def finish_reindex(self) -> None:
        """Every article is back in Chroma: the index may sync and serve again."""
        self.catalog.db.execute("DELETE FROM meta WHERE key = 'reindexing'")

    # -- reads ----------------------------------------------------------------------------

    def dense(self, name: str, vector: np.ndarray, k: int, doc_ids: list[str] | None = None) -> list[tuple[str, float]]:
        """Nearest neighbours in one collection: [(id, cosine similarity)], best first."""
        collection = self.collections[name]
        where = None
        if doc_ids:
            where = {"doc_id": doc_ids[0]} if len(doc_ids) == 1 else {"doc_id": {"$in": list(doc_ids)}}
        result = collection.query(
            # Chroma returns fewer than k (or none) when the collection holds fewer.
            query_embeddings=vector[None, :], n_results=k, where=where, include=["distances"],
        )
        return [(id_, 1.0 - distance) for id_, distance in zip(result["ids"][0], result["distances"][0])]

    def sentence_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        import numpy as np

        if not ids:
            return {}
        got = self.collections["sentences"].get(ids=ids, include=["embeddings"])
        return {id_: np.asarray(vector, dtype=np.float32) for id_, vector in zip(got["ids"], got["embeddings"])}

    def as_langchain(self):
        """The passages collection as a LangChain vector store (for LangChain retrievers/chains)."""
        from langchain_chroma import Chroma

        self.collections
        return Chroma(client=self._client, collection_name="passages", embedding_function=self.embeddings)
