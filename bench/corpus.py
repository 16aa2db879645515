"""Corpora for the benches, from real text read by path, and an on-disk embedding cache.

- the seed (seeds/), /work/shared/data/current_events (news summaries), XQuAD en/zh dev (each
  paragraph an article);
- `synthetic(passages, seed)`: articles recombined from the real sentences of those sources,
  deterministic for a given seed, for indexes of 1k, 10k, 100k passages;
- `CachedEmbeddings`: MiniLM with a SQLite cache keyed by model name + text hash
  (bench/cache/embeddings.sqlite), so a 100k-passage index is embedded once;
- `cached_index(passages)`: such an index built once under bench/cache/ through the library
  (`Store.add` with cached vectors), reused by every later run.

    python -m bench.corpus                      # describe the corpora
    python -m bench.corpus --build 1000 10000   # also build (or reuse) those indexes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sqlite3
import sys
from pathlib import Path

import numpy as np

from bench.common import CACHE_DIR, PROJECT_DIR, SHARED_DATA, Timer, offline, table, write_results

CURRENT_EVENTS = SHARED_DATA / "current_events"
XQUAD = SHARED_DATA / "xquad"
SEEDS = PROJECT_DIR / "seeds"
# Synthetic articles hold this many sentences (real news articles here: ~10-60).
ARTICLE_SENTENCES = (12, 48)
PARAGRAPH_SENTENCES = (2, 5)


# -- real corpora -------------------------------------------------------------------------

def seed_articles():
    from assistant.articles import iter_sources, load

    return [load(path) for path, skip in iter_sources(str(SEEDS)) if not skip]


def current_events_articles(folder: Path = CURRENT_EVENTS):
    from assistant.articles import load

    return [load(str(path)) for path in sorted(Path(folder).glob("*.txt"))]


def xquad_paragraphs(lang: str = "en", folder: Path = XQUAD, limit: int | None = None) -> list[dict]:
    """The paragraphs of XQuAD dev (the first `limit`): {"title", "source", "context", "qas"}.

    Question ids and sources align across languages."""
    data = json.loads((Path(folder) / f"xquad.{lang}.dev.json").read_text(encoding="utf-8"))
    out = []
    for a, article in enumerate(data["data"]):
        for p, paragraph in enumerate(article["paragraphs"]):
            out.append({
                "title": f"{article['title']} ({p + 1})",
                "source": f"xquad:{a:02d}-{p:02d}",  # the same for en and zh: questions map across
                "context": paragraph["context"],
                "qas": paragraph["qas"],
            })
    return out[:limit] if limit else out


def xquad_articles(lang: str = "en", folder: Path = XQUAD):
    from assistant.articles import Article

    return [Article(p["title"], p["source"], p["context"]) for p in xquad_paragraphs(lang, folder)]


def sentence_pool(limit_sources: int | None = None) -> list[str]:
    """Unique real sentences (of 5+ words) from the seed, current_events and XQuAD en, in a fixed order."""
    from assistant.passages import split_sentences

    texts = [a.text for a in seed_articles()]
    if CURRENT_EVENTS.is_dir():
        texts += [a.text for a in current_events_articles()]
    if (XQUAD / "xquad.en.dev.json").is_file():
        texts += [p["context"] for p in xquad_paragraphs("en")]
    texts = texts[:limit_sources] if limit_sources else texts
    sentences = (s.text for text in texts for s in split_sentences(text))
    return list(dict.fromkeys(s for s in sentences if len(s.split()) >= 5))


def synthetic(passages: int, seed: int = 0, pool: list[str] | None = None) -> list:
    """Articles of real sentences drawn at random (seeded), until they make `passages` passages."""
    from assistant.articles import Article
    from assistant.passages import make_passages

    pool = pool or sentence_pool()
    rng = random.Random(seed)
    articles, total = [], 0
    while total < passages:
        drawn = rng.sample(pool, min(len(pool), rng.randint(*ARTICLE_SENTENCES)))
        paragraphs, i = [], 0
        while i < len(drawn):
            size = rng.randint(*PARAGRAPH_SENTENCES)
            paragraphs.append(" ".join(drawn[i:i + size]))
            i += size
        text = "\n\n".join(paragraphs)
        n = len(articles)
        title = f"Synthetic {seed}-{n}: " + " ".join(drawn[0].split()[:8])
        articles.append(Article(title, f"synthetic:{seed}:{n}", text, meta={"synthetic": str(seed)}))
        total += len(make_passages(text))
    return articles


def describe(articles) -> dict:
    """Articles, passages, sentences, and the distinct texts the pipeline would embed."""
    from assistant.passages import make_passages, split_sentences

    passages = sentences = 0
    texts: set[str] = set()
    for article in articles:
        s = split_sentences(article.text)
        p = make_passages(article.text, s)
        passages, sentences = passages + len(p), sentences + len(s)
        texts.update(x.text for x in p)
        texts.update(x.text for x in s)
    return {"articles": len(articles), "passages": passages, "sentences": sentences,
            "texts_to_embed": len(texts), "chars": sum(len(a.text) for a in articles)}


# -- embedding cache ----------------------------------------------------------------------

class CachedEmbeddings:
    """A MiniLM whose vectors are kept in SQLite by (model, text) hash; the same interface as MiniLM."""

    def __init__(self, inner=None, path: Path | None = None, chunk: int = 2048, progress: bool = False):
        if inner is None:
            from assistant.embeddings import MiniLM

            inner = MiniLM()
        self.inner = inner
        self.name = inner.name
        self.texts_encoded = 0  # texts that missed the cache and went through the model
        self.chunk = chunk
        self.progress = progress
        path = Path(path or CACHE_DIR / "embeddings.sqlite")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False, timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB)")

    def _key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.name}\0{text}".encode("utf-8")).digest()[:20]

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):
            part = unique[i:i + 500]
            rows = self.db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})", part)
            found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in found))
        for i in range(0, len(missing), self.chunk):
            part = missing[i:i + self.chunk]
            vectors = self.inner.encode(part)
            self.texts_encoded += len(part)
            pairs = [(self._key(t), v.astype(np.float32).tobytes()) for t, v in zip(part, vectors)]
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", pairs)
            self.db.execute("COMMIT")
            found.update((k, v) for (k, _), v in zip(pairs, vectors))
            if self.progress:
                print(f"  embedded {i + len(part)}/{len(missing)} new texts", file=sys.stderr, flush=True)
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


# -- indexes built through the library ----------------------------------------------------

def build_index(index_dir: Path, articles, embeddings, progress: bool = False) -> dict:
    """Add `articles` to the index at `index_dir` with Store.add, embedding all texts in one call."""
    from assistant.api import embed_articles
    from assistant.store import Store

    with Timer() as embed:  # splitting is included: it is a small share of the model's time
        embedded = embed_articles(articles, embeddings)
    store = Store(index_dir, embeddings)
    with Timer() as insert:
        embedded = [e for e in embedded if not store.catalog.has(e[0].doc_id)]
        for i in range(0, len(embedded), 100):
            store.add(embedded[i:i + 100])
            if progress and i % 1000 == 0:
                print(f"  stored {i}/{len(articles)} articles", file=sys.stderr, flush=True)
    store.mark_used()
    texts = {item.text for _, passages, sentences, _, _ in embedded for item in [*passages, *sentences]}
    return {"articles": len(articles), "passages": sum(len(e[1]) for e in embedded),
            "sentences": sum(len(e[2]) for e in embedded), "texts_embedded": len(texts),
            "embed_seconds": round(embed.seconds, 1), "insert_seconds": round(insert.seconds, 1)}


def cached_index(passages: int, seed: int = 0, embeddings=None, progress: bool = True,
                 cache_dir: Path | None = None) -> Path:
    """An index of the seed plus `passages` synthetic passages, built once under bench/cache/."""
    cache_dir = Path(cache_dir or CACHE_DIR)
    index_dir = cache_dir / f"index-{passages}-seed{seed}"
    if (index_dir / "complete.json").is_file():
        return index_dir
    shutil.rmtree(index_dir, ignore_errors=True)
    partial = index_dir.with_name(index_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    embeddings = embeddings or CachedEmbeddings(path=cache_dir / "embeddings.sqlite", progress=progress)
    articles = seed_articles() + synthetic(passages, seed)
    if progress:
        print(f"building {index_dir.name}: {len(articles)} articles", file=sys.stderr, flush=True)
    report = build_index(partial, articles, embeddings, progress)
    (partial / "complete.json").write_text(json.dumps(report) + "\n")
    partial.rename(index_dir)
    return index_dir


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 100000],
                        help="synthetic corpus sizes (passages) to describe")
    parser.add_argument("--build", type=int, nargs="*", default=[], help="build (or reuse) these cached indexes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=None, help="results folder [bench/results]")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder [bench/cache]")
    args = parser.parse_args(argv)
    offline()
    rows = [{"corpus": "seed", **describe(seed_articles())}]
    if CURRENT_EVENTS.is_dir():
        rows.append({"corpus": "current_events", **describe(current_events_articles())})
    for lang in ("en", "zh"):
        if (XQUAD / f"xquad.{lang}.dev.json").is_file():
            rows.append({"corpus": f"xquad-{lang}", **describe(xquad_articles(lang))})
    pool = sentence_pool()
    for size in args.sizes:
        rows.append({"corpus": f"synthetic-{size}", **describe(synthetic(size, args.seed, pool))})
    print(table(rows))
    print(f"\nsentence pool: {len(pool)} unique real sentences")
    built = {}
    for size in args.build:
        with Timer() as t:
            path = cached_index(size, args.seed, cache_dir=args.cache)
        built[str(size)] = {"index_dir": str(path), "seconds": round(t.seconds, 1),
                            **json.loads((path / "complete.json").read_text())}
        print(f"index {size}: {path} ({t.seconds:.1f} s)")
    data = {"corpora": rows, "sentence_pool": len(pool), "indexes": built}
    print("wrote", write_results("corpus", data, args.results))
    return data


if __name__ == "__main__":
    main()
