"""Building an index: ingest, duplicates, changed articles, remove, reopen, model mismatch, reindex.

Real model (the session `embeddings`), real Chroma on disk, the real seed.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import Assistant, ArticleNotFound, IndexMismatch
from assistant.embeddings import MiniLM
from assistant.lexical import terms
from assistant.passages import make_passages, split_sentences
from conftest import SEEDS
from test_articles import BUDGET_PDF_TITLE, ELECTION_BOILERPLATE, ELECTION_HTML, NEWS_TITLES, _Pages, news_server, write_news_folder  # noqa: F401

SEED_TITLE = "Sino-US defense ministers meet in Singapore after an 18-month lapse"


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`assistant ARGS` in a new Python process."""
    return subprocess.run([sys.executable, "-m", "assistant.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def chroma_ids(assistant: Assistant, name: str, doc_id: str) -> list[str]:
    return assistant.store.collections[name].get(where={"doc_id": doc_id}, include=[])["ids"]


def fts_rows(assistant: Assistant, doc_id: str | None = None) -> int:
    db = assistant.store.catalog.db
    if doc_id is None:
        return db.execute("SELECT count(*) FROM passage_terms").fetchone()[0]
    return db.execute(
        "SELECT count(*) FROM passage_terms WHERE rowid IN (SELECT rowid FROM passages WHERE doc_id = ?)", (doc_id,)
    ).fetchone()[0]


def assert_consistent(assistant: Assistant) -> None:
    """Catalog, FTS and all three Chroma collections hold exactly the same articles and passages."""
    catalog = assistant.store.catalog
    doc_ids = catalog.doc_ids()
    collections = assistant.store.collections
    assert set(collections["articles"].get(include=[])["ids"]) == doc_ids
    passage_ids = {row[0] for row in catalog.db.execute("SELECT id FROM passages")}
    sentence_ids = {row[0] for row in catalog.db.execute("SELECT id FROM sentences")}
    assert set(collections["passages"].get(include=[])["ids"]) == passage_ids
    assert set(collections["sentences"].get(include=[])["ids"]) == sentence_ids
    assert fts_rows(assistant) == len(passage_ids) == sum(r.passages for r in catalog.articles())


@pytest.fixture(scope="module")
def news_dir(tmp_path_factory) -> Path:
    return write_news_folder(tmp_path_factory.mktemp("news"))


@pytest.fixture(scope="module")
def library(tmp_path_factory, embeddings, news_dir):
    """The seed plus the news folder, built once for this module; tests here must not change it."""
    index_dir = tmp_path_factory.mktemp("library")
    assistant = Assistant(index_dir, embeddings=embeddings, seed=True)
    report = assistant.ingest([str(SEEDS), str(news_dir)])
    return assistant, report


def test_ingest_new_index_starts_with_the_seed(make_assistant):
    assistant = make_assistant(seed=True)
    (record,) = assistant.articles()
    assert record.title == SEED_TITLE
    assert record.published == "2024-05-31"
    assert record.source == "lianhe-zaobao/2024-05-31-sino-us-defense-ministers"
    assert assistant.article(record.doc_id).meta["outlet"] == "Lianhe Zaobao"


def test_ingest_no_seed_index_stays_empty(make_assistant):
    assert make_assistant(seed=False).articles() == []


def test_ingest_seed_and_folder_adds_every_article(library, news_dir):
    assistant, report = library
    assert report.failed == []
    assert {item["title"] for item in report.added} == set(NEWS_TITLES.values())
    (seed_skip,) = report.skipped
    assert seed_skip["source"].endswith("2024-05-31-sino-us-defense-ministers.md")
    assert seed_skip["reason"].startswith("duplicate of ")
    records = {r.title: r for r in assistant.articles()}
    assert set(records) == set(NEWS_TITLES.values()) | {SEED_TITLE}
    for item in report.added:
        record = records[item["title"]]
        assert (item["doc_id"], item["source"], item["passages"]) == (record.doc_id, record.source, record.passages)
        assert record.passages == len(make_passages(assistant.article(record.doc_id).text)) >= 1
        assert record.added
    assert records["Rotterdam reopens container terminals after storm"].source == \
        "https://news.example.org/2024/03/12/rotterdam-storm"
    assert records["City council approves 12 km of protected bike lanes"].source == str((news_dir / "council.txt").resolve())
    assert records["Turnout hits record in Valdoria regional vote"].published == "2024-05-05"
    assert records["Harbour city budget puts schools first"].published == "2024-04-02"
    election = assistant.article(records["Turnout hits record in Valdoria regional vote"].doc_id)
    for junk in ELECTION_BOILERPLATE:
        assert junk not in election.text
    assert_consistent(assistant)


def test_ingest_stored_offsets_locate_every_passage_and_sentence(library, embeddings):
    """Article text[start:end] is the passage Chroma holds, and what each sentence vector encodes."""
    import numpy as np

    assistant, _ = library
    db = assistant.store.catalog.db
    texts = dict(db.execute("SELECT doc_id, text FROM articles"))
    collections = assistant.store.collections
    rows = db.execute('SELECT id, doc_id, start, "end" FROM passages').fetchall()
    got = collections["passages"].get(ids=[row[0] for row in rows], include=["documents", "metadatas"])
    documents = dict(zip(got["ids"], got["documents"]))
    metadatas = dict(zip(got["ids"], got["metadatas"]))
    assert len(documents) == len(rows) > len(texts)
    for id_, doc_id, start, end in rows:
        assert texts[doc_id][start:end] == documents[id_], id_
        assert (metadatas[id_]["start"], metadatas[id_]["end"], metadatas[id_]["doc_id"]) == (start, end, doc_id)
    # Sentences are stored as vectors only: each must be the embedding of its text in the article.
    rows = db.execute('SELECT id, doc_id, start, "end" FROM sentences').fetchall()
    stored = assistant.store.sentence_vectors([row[0] for row in rows])
    assert len(stored) == len(rows) > len(documents)
    expected = embeddings.encode([texts[doc_id][start:end] for _, doc_id, start, end in rows])
    similarity = np.array([stored[row[0]] @ vector for row, vector in zip(rows, expected)])
    assert similarity.min() > 0.999
    got = collections["sentences"].get(ids=[row[0] for row in rows], include=["metadatas"])
    assert {id_: meta["doc_id"] for id_, meta in zip(got["ids"], got["metadatas"])} == {row[0]: row[1] for row in rows}
    for doc_id, text in texts.items():
        sentences = split_sentences(text)
        stored = db.execute('SELECT n, start, "end" FROM sentences WHERE doc_id = ? ORDER BY n', (doc_id,)).fetchall()
        assert stored == [(s.n, s.start, s.end) for s in sentences]


def test_ingest_again_adds_nothing_and_embeds_nothing(library, news_dir, tmp_path, embeddings):
    assistant, first = library
    before = [r.summary() for r in assistant.articles()]
    passages = assistant.store.catalog.passage_count()
    encoded = embeddings.texts_encoded
    copy = tmp_path / "elsewhere" / "harbour-copy.txt"
    copy.parent.mkdir()
    shutil.copy(news_dir / "harbour.txt", copy)

    report = assistant.ingest([str(SEEDS), str(news_dir), str(copy), str(news_dir / "council.txt")])

    assert embeddings.texts_encoded == encoded
    assert report.added == [] and report.failed == []
    assert [r.summary() for r in assistant.articles()] == before
    assert assistant.store.catalog.passage_count() == passages
    skipped = {item["source"]: item["reason"] for item in report.skipped}
    assert len(report.skipped) == 1 + len(NEWS_TITLES) + 2
    assert all(reason.startswith("duplicate of ") for reason in skipped.values())
    harbour = next(item for item in first.added if item["title"].startswith("Rotterdam"))
    assert skipped[str(copy)] == f"duplicate of {harbour['doc_id']} ({harbour['source']})"
    assert_consistent(assistant)


def test_ingest_same_article_twice_in_one_call_embeds_it_once(make_assistant, news_dir, tmp_path, embeddings):
    assistant = make_assistant()
    copy = tmp_path / "copy.txt"
    shutil.copy(news_dir / "council.txt", copy)
    encoded = embeddings.texts_encoded
    report = assistant.ingest([str(news_dir / "council.txt"), str(copy)])
    (added,) = report.added
    (skipped,) = report.skipped
    assert skipped["source"] == str(copy) and skipped["reason"].startswith(f"duplicate of {added['doc_id']}")
    text = assistant.article(added["doc_id"]).text
    sentences = split_sentences(text)
    expected = {p.text for p in make_passages(text, sentences)} | {s.text for s in sentences}
    assert embeddings.texts_encoded - encoded == len(expected)


def test_ingest_changed_article_replaces_the_old_version(make_assistant, news_dir, tmp_path):
    folder = tmp_path / "news"
    shutil.copytree(news_dir, folder)
    assistant = make_assistant()
    first = assistant.ingest([str(folder)])
    old = {item["title"]: item["doc_id"] for item in first.added}
    old_id = old["City council approves 12 km of protected bike lanes"]
    assert assistant.store.catalog.search(terms("parking spaces"), 5)[0][0].startswith(old_id)

    council = folder / "council.txt"
    council.write_text(council.read_text().replace("removes 300 parking spaces", "removes 250 parking bays"),
                       encoding="utf-8")
    report = assistant.ingest([str(folder)])

    (added,) = report.added
    assert added["title"] == "City council approves 12 km of protected bike lanes"
    assert added["replaced"] == [old_id]
    new_id = added["doc_id"]
    assert new_id != old_id
    assert len(report.skipped) == len(NEWS_TITLES) - 1
    ids = {r.doc_id for r in assistant.articles()}
    assert new_id in ids and old_id not in ids
    assert len(ids) == len(NEWS_TITLES)
    with pytest.raises(ArticleNotFound):
        assistant.article(old_id)
    for name in ("passages", "sentences"):
        assert chroma_ids(assistant, name, old_id) == []
        assert len(chroma_ids(assistant, name, new_id)) >= 1
    assert assistant.store.collections["articles"].get(ids=[old_id], include=[])["ids"] == []
    assert fts_rows(assistant, old_id) == 0
    assert all(not id_.startswith(old_id) for id_, _ in assistant.store.catalog.search(terms("parking spaces bays"), 50))
    assert assistant.store.catalog.search(terms("parking bays"), 5)[0][0].startswith(new_id)
    assert "removes 250 parking bays" in assistant.article(new_id).text
    assert_consistent(assistant)


def test_remove_drops_the_article_everywhere(make_assistant, news_dir):
    assistant = make_assistant(seed=True)
    report = assistant.ingest([str(news_dir)])
    doc_id = next(item["doc_id"] for item in report.added if item["title"].startswith("Turnout"))
    removed = assistant.remove(doc_id)
    assert removed.title == "Turnout hits record in Valdoria regional vote"
    assert doc_id not in {r.doc_id for r in assistant.articles()}
    assert len(assistant.articles()) == len(NEWS_TITLES)  # the seed and the four others
    for name in ("passages", "sentences"):
        assert chroma_ids(assistant, name, doc_id) == []
    assert fts_rows(assistant, doc_id) == 0
    assert assistant.store.catalog.search(terms("Valdoria turnout Green Alliance"), 10) == []
    with pytest.raises(ArticleNotFound, match="assistant list"):
        assistant.remove(doc_id)
    assert_consistent(assistant)
    again = assistant.ingest([str(news_dir / "election.html")])  # a removed article can come back
    assert [item["doc_id"] for item in again.added] == [doc_id]


def test_reopen_in_a_new_process_finds_everything(make_assistant, news_dir, tmp_path):
    assistant = make_assistant(seed=True)
    assistant.ingest([str(news_dir)])
    budget = next(r for r in assistant.articles() if r.title.startswith("Harbour city"))
    assistant.remove(budget.doc_id)
    expected = [r.summary() for r in assistant.articles()]
    index_dir = assistant.settings.index_dir

    listed = run_cli("list", "--json", "--index-dir", index_dir)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == expected

    asked = run_cli("ask", "--json", "--index-dir", index_dir, "How many seats did the Green Alliance win?")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["answered"], answer
    texts = {r.doc_id: assistant.article(r.doc_id).text for r in assistant.articles()}
    assert "31 of the 80 seats" in " ".join(c["quote"] for c in answer["citations"])
    for citation in answer["citations"]:
        assert texts[citation["doc_id"]][citation["start"]:citation["end"]] == citation["quote"]

    shown = run_cli("show", "--json", "--index-dir", index_dir, budget.doc_id)
    assert shown.returncode == 1 and "No article with id" in shown.stderr

    seed_id = next(r["doc_id"] for r in expected if r["title"] == SEED_TITLE)
    shown = run_cli("show", "--json", "--index-dir", index_dir, seed_id)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {
        "doc_id": seed_id, "title": SEED_TITLE, "source": "lianhe-zaobao/2024-05-31-sino-us-defense-ministers",
        "published": "2024-05-31", "text": texts[seed_id],
    }


def test_ingest_url_from_a_local_server(news_server, make_assistant, embeddings):
    server, base = news_server
    _Pages.pages["/2024/05/valdoria"] = (200, "text/html; charset=utf-8", ELECTION_HTML.encode())
    assistant = make_assistant()
    url = f"{base}/2024/05/valdoria"
    report = assistant.ingest([url])
    assert report.failed == []
    (added,) = report.added
    record = assistant.article(added["doc_id"])
    assert record.title == "Turnout hits record in Valdoria regional vote"
    assert record.published == "2024-05-05"
    assert record.source == "https://herald.example.net/politics/valdoria-turnout"
    assert "Turnout in Sunday's regional election in Valdoria reached 78 percent" in record.text
    for junk in ELECTION_BOILERPLATE:
        assert junk not in record.text, junk
    encoded = embeddings.texts_encoded
    again = assistant.ingest([url])
    assert again.added == [] and again.skipped[0]["reason"].startswith(f"duplicate of {record.doc_id}")
    assert embeddings.texts_encoded == encoded


def test_ingest_keeps_good_sources_when_others_fail(make_assistant, news_dir, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"")
    assistant = make_assistant()
    report = assistant.ingest([str(tmp_path / "missing.txt"), str(news_dir / "harbour.txt"), str(bad)])
    assert [item["title"] for item in report.added] == ["Rotterdam reopens container terminals after storm"]
    assert [item["source"] for item in report.failed] == [str(tmp_path / "missing.txt"), str(bad)]
    assert len(assistant.articles()) == 1
    assert_consistent(assistant)


# -- the embedding model --------------------------------------------------------------------

class OtherModel(MiniLM):
    """The real model under another name: how an index built with a different model looks."""

    name = "sentence-transformers/paraphrase-MiniLM-L3-v2"


def _built_with(index_dir: Path, model: str, *, catalog: bool = True, chroma: bool = True) -> None:
    """Rewrite an index's record of its embedding model, as if another model had built it."""
    if catalog:
        db = sqlite3.connect(index_dir / "catalog.sqlite")
        with db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'embedding_model'", (model,))
        db.close()
    if chroma:
        import chromadb
        from chromadb.config import Settings

        client = chromadb.PersistentClient(path=str(index_dir / "chroma"), settings=Settings(anonymized_telemetry=False))
        for name in ("passages", "sentences", "articles"):
            client.get_collection(name).modify(metadata={"embedding_model": model})


@pytest.fixture
def foreign_index(tmp_path, embeddings):
    """Build a seeded index; `mark(where)` then makes it look built by OtherModel."""
    index_dir = tmp_path / "index"
    before = [r.summary() for r in Assistant(index_dir, embeddings=embeddings, seed=True).articles()]

    def mark(where: str) -> tuple[Path, list[dict]]:
        _built_with(index_dir, OtherModel.name, catalog=where != "chroma only", chroma=where != "catalog only")
        return index_dir, before

    return mark


@pytest.mark.parametrize("where", ["catalog and chroma", "chroma only", "catalog only"])
def test_index_built_with_another_model_says_run_reindex(foreign_index, embeddings, tmp_path, cli, where):
    index_dir, before = foreign_index(where)
    new = tmp_path / "new.txt"
    new.write_text("Ferry services resumed on Friday after a two-day strike.", encoding="utf-8")
    for args in (["ask", "Where did the ministers meet?"], ["ingest", str(new)]):
        result = cli(args[0], "--index-dir", index_dir, *args[1:])
        assert result.exit_code == 1
        message = result.output.strip().splitlines()[-1]
        assert message == (
            f"Error: The index at {index_dir} was built with the embedding model '{OtherModel.name}' but this "
            f"run uses 'sentence-transformers/all-MiniLM-L6-v2'. Run `assistant reindex --index-dir {index_dir}` "
            "to rebuild it with the current model."
        )
        assert "Traceback" not in result.output
    assert [r.summary() for r in Assistant(index_dir, embeddings=embeddings).articles()] == before


def test_reindex_rebuilds_an_index_built_with_another_model(foreign_index, embeddings, cli):
    index_dir, before = foreign_index("catalog and chroma")
    result = cli("reindex", "--index-dir", index_dir)
    assert result.exit_code == 0, result.output
    assert result.output == "reindexed 1 articles with sentence-transformers/all-MiniLM-L6-v2\n"
    result = cli("ask", "--json", "--index-dir", index_dir, "How long did the meeting last?")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["passages"]
    reopened = Assistant(index_dir, embeddings=embeddings)
    assert [r.summary() for r in reopened.articles()] == before
    assert reopened.store.collections["sentences"].metadata["embedding_model"] == embeddings.name
    assert_consistent(reopened)
    assert_vectors_match_text(reopened)


def assert_vectors_match_text(assistant: Assistant) -> None:
    """Each stored sentence's nearest neighbour, searching with its own embedding, is itself."""
    db = assistant.store.catalog.db
    rows = db.execute('SELECT s.id, a.text, s.start, s.end FROM sentences s JOIN articles a USING (doc_id)').fetchall()
    vectors = assistant.embeddings.encode([text[start:end] for _, text, start, end in rows[:10]])
    for (id_, *_), vector in zip(rows, vectors):
        ((nearest, similarity),) = assistant.store.dense("sentences", vector, 1)
        assert nearest == id_ and similarity > 0.99


def test_opening_with_another_model_raises_and_reindex_switches(make_assistant, tmp_path, news_dir):
    index_dir = make_assistant(seed=True).settings.index_dir
    other = Assistant(index_dir, embeddings=OtherModel())
    with pytest.raises(IndexMismatch, match=r"Run `assistant reindex --index-dir .*` to rebuild it"):
        other.ingest([str(news_dir / "harbour.txt")])
    assert other.embeddings.texts_encoded == 0  # found out before embedding anything
    with pytest.raises(IndexMismatch):
        other.ask("Where did the ministers meet?")
    assert other.reindex() == 1
    assert other.store.catalog.get_meta("embedding_model") == OtherModel.name
    assert other.store.collections["passages"].metadata["embedding_model"] == OtherModel.name
    other.ingest([str(news_dir / "harbour.txt")])
    assert len(other.articles()) == 2
    with pytest.raises(IndexMismatch):
        Assistant(index_dir, embeddings=MiniLM()).ask("Where did the ministers meet?")


class FailingModel(MiniLM):
    """The real model that fails after `calls` encode calls, like a crash in the middle of a run."""

    def __init__(self, calls: int):
        super().__init__()
        self.calls = calls

    def encode(self, texts):
        if self.calls == 0:
            raise KeyboardInterrupt
        self.calls -= 1
        return super().encode(texts)


def test_reindex_interrupted_loses_no_article(make_assistant, news_dir, embeddings, cli, tmp_path, monkeypatch):
    monkeypatch.setattr("assistant.api.GROUP_CHARS", 1)  # one article per group: it fails after two
    new = tmp_path / "new.txt"
    new.write_text("Ferry services resumed on Friday after a two-day strike.", encoding="utf-8")
    assistant = make_assistant(seed=True)
    assistant.ingest([str(news_dir)])
    before = [r.summary() for r in assistant.articles()]
    index_dir = assistant.settings.index_dir

    with pytest.raises(KeyboardInterrupt):
        Assistant(index_dir, embeddings=FailingModel(calls=2)).reindex()

    for args in (["ask", "Where did the ministers meet?"], ["ingest", str(new)]):
        result = cli(args[0], "--index-dir", index_dir, *args[1:])
        assert result.exit_code == 1
        assert f"did not finish. Run `assistant reindex --index-dir {index_dir}` again" in result.output
    reopened = Assistant(index_dir, embeddings=embeddings)
    assert [r.summary() for r in reopened.articles()] == before
    assert cli("reindex", "--index-dir", index_dir).exit_code == 0
    assert [r.summary() for r in reopened.articles()] == before
    assert_consistent(Assistant(index_dir, embeddings=embeddings))


def test_ingest_interrupted_between_vectors_and_records_recovers(make_assistant, news_dir, embeddings, monkeypatch):
    """A crash after a group's vectors are written but before its article records: the articles
    are not in the index, and ingesting again completes it without duplicate vectors."""
    from assistant.store import Store

    assistant = make_assistant(seed=True)
    before = {r.doc_id for r in assistant.articles()}
    write = Store._write

    def crash_at_records(self, name, *args, **kwargs):
        if name == "articles":
            raise KeyboardInterrupt
        return write(self, name, *args, **kwargs)

    monkeypatch.setattr(Store, "_write", crash_at_records)
    with pytest.raises(KeyboardInterrupt):
        assistant.ingest([str(news_dir)])
    monkeypatch.setattr(Store, "_write", write)

    reopened = Assistant(assistant.settings.index_dir, embeddings=embeddings)
    assert {r.doc_id for r in reopened.articles()} == before
    report = reopened.ingest([str(news_dir)])
    assert len(report.added) == len(NEWS_TITLES) and not report.failed
    assert_consistent(reopened)
    answer = reopened.ask("By how much does the harbour city's budget raise school spending?")
    assert answer.answered and "8 percent" in answer.answer
    budget = next(r.doc_id for r in reopened.articles() if r.title == BUDGET_PDF_TITLE)
    assert {c.doc_id for c in answer.citations} == {budget}


def test_lexical_search_keeps_the_rarest_terms_over_the_postings_budget(library, monkeypatch):
    """Over LEXICAL_POSTINGS_BUDGET the most common query terms leave the BM25 match; the
    rarest stay, so a passage found by its rare words is still found."""
    assistant, _ = library
    catalog = assistant.store.catalog
    query = terms("the defense ministers said parking bays Singapore")
    df, total = catalog.document_frequencies(query)
    assert catalog.passage_count() == total == catalog.db.execute("SELECT count(*) FROM passages").fetchone()[0]
    full = catalog.search(query, 5)
    monkeypatch.setattr("assistant.store.LEXICAL_POSTINGS_BUDGET", 1)  # every index is "large"
    kept = catalog._within_budget(query)
    commonest = max(query, key=lambda t: df.get(t, 0))
    assert kept and commonest not in kept and df[commonest] > 1
    assert min(query, key=lambda t: df.get(t, 0)) in kept
    assert sum(df.get(t, 0) for t in kept) <= 1 or len(kept) == 1
    pruned = catalog.search(query, 5)
    assert pruned and pruned != full
    assert pruned == catalog.search(kept, 5)
