"""The index commands from the terminal: ingest, list, show, remove, reindex; bad input; JSON; imports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.store import Catalog
from conftest import SEEDS
from test_articles import HARBOUR_TXT, write_pdf

SEED_TITLE = "Sino-US defense ministers meet in Singapore after an 18-month lapse"
REPORT_KEYS = {"added", "skipped", "failed"}
# Documented in IngestReport: `replaced` on an added article that replaces an older version of
# the same source, `doc_id` on a duplicate (the id of the article it duplicates).
ADDED_KEYS, ADDED_OPTIONAL = {"doc_id", "title", "source", "passages"}, {"replaced"}
SKIPPED_KEYS, SKIPPED_OPTIONAL = {"source", "reason"}, {"doc_id"}
FAILED_KEYS = {"source", "error"}


def run_cli(*args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`assistant ARGS` in a new Python process."""
    return subprocess.run([sys.executable, "-m", "assistant.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_report_schema(report: dict) -> None:
    assert set(report) == REPORT_KEYS
    for item in report["added"]:
        assert ADDED_KEYS <= set(item) <= ADDED_KEYS | ADDED_OPTIONAL
        assert isinstance(item["passages"], int) and item["passages"] >= 1
    for item in report["skipped"]:
        assert SKIPPED_KEYS <= set(item) <= SKIPPED_KEYS | SKIPPED_OPTIONAL
    for item in report["failed"]:
        assert set(item) == FAILED_KEYS


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, embeddings) -> Path:
    """The seed and one more article; the bad-input tests check nothing here changes."""
    index_dir = tmp_path_factory.mktemp("cli-index")
    article = tmp_path_factory.mktemp("articles") / "harbour.txt"
    article.write_text(HARBOUR_TXT, encoding="utf-8")
    Assistant(index_dir, embeddings=embeddings, seed=True).ingest([str(article)])
    return index_dir


def listing(index_dir: Path) -> list[dict]:
    catalog = Catalog(index_dir / "catalog.sqlite")
    try:
        return [r.summary() for r in catalog.articles()]
    finally:
        catalog.db.close()


# -- bad input ------------------------------------------------------------------------------

def _write(name: str, data: bytes):
    def make(tmp_path: Path) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return make


def _big_file(tmp_path: Path) -> str:
    path = tmp_path / "huge.txt"
    with open(path, "wb") as file:
        line = b"The council met again on Tuesday to discuss the budget.\n"
        file.write(line * (50_000_000 // len(line) + 1))
    return str(path)


BAD_SOURCES = {
    "empty file": (_write("empty.txt", b""), "file is empty; nothing to index"),
    "binary file": (_write("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))), "looks like a binary file"),
    "unsupported suffix": (_write("minutes.docx", b"PK\x03\x04 a word file"), "unsupported file type '.docx'; use one of"),
    "undecodable bytes": (_write("latin1.txt", "Zürich: la réunion a duré 75 minutes.".encode("latin-1")),
                          "is not UTF-8 text (bad byte at position 1); convert it first"),
    "50 MB file": (_big_file, "file is 50.0 MB, over the 20 MB limit; split it or raise ASSISTANT_MAX_BYTES"),
    "missing path": (lambda tmp_path: str(tmp_path / "no-such-article.txt"), "no such file or folder; check the path"),
    "unreachable URL": (lambda tmp_path: f"http://127.0.0.1:{closed_port()}/x",
                        "could not fetch ([Errno 111] Connection refused); check the address and your connection"),
    "PDF without text": (lambda tmp_path: str(write_pdf(tmp_path / "scan.pdf", "Scan", [], "2024-01-01")),
                         "PDF has no text layer (scanned?); run OCR on it first"),
}


def _check_failed_ingest(exit_code: int, stdout: str, stderr: str, source: str, expected: str) -> None:
    assert exit_code == 1
    assert "Traceback" not in stdout + stderr
    assert stderr.strip() == f"failed   {source}: {stderr.strip().split(': ', 1)[1]}"  # one line
    assert expected in stderr
    assert stdout.strip() == "0 added, 0 skipped, 1 failed"


@pytest.mark.parametrize("case", BAD_SOURCES, ids=list(BAD_SOURCES))
def test_cli_ingest_bad_source_fails_in_one_line_and_keeps_the_index(index_dir, tmp_path, case):
    make, expected = BAD_SOURCES[case]
    source = make(tmp_path)
    before = listing(index_dir)
    result = run_cli("ingest", "--index-dir", index_dir, source)
    _check_failed_ingest(result.returncode, result.stdout, result.stderr, source, expected)
    assert listing(index_dir) == before

    result = run_cli("ingest", "--json", "--index-dir", index_dir, source)
    assert result.returncode == 1 and result.stderr == ""
    report = json.loads(result.stdout)
    assert_report_schema(report)
    assert report["added"] == [] and report["skipped"] == []
    ((failed),) = report["failed"]
    assert failed["source"] == source and expected in failed["error"]
    assert listing(index_dir) == before


@pytest.mark.parametrize("case", BAD_SOURCES, ids=list(BAD_SOURCES))
def test_cli_ingest_bad_source_in_process(index_dir, tmp_path, cli, case):
    make, expected = BAD_SOURCES[case]
    source = make(tmp_path)
    before = listing(index_dir)
    result = cli("ingest", "--index-dir", index_dir, source)
    _check_failed_ingest(result.exit_code, result.stdout, result.stderr, source, expected)
    assert listing(index_dir) == before


@pytest.mark.parametrize("command", [["show"], ["show", "--json"], ["remove"], ["remove", "--json"]])
def test_cli_unknown_doc_id_is_one_line(index_dir, command):
    before = listing(index_dir)
    result = run_cli(*command, "--index-dir", index_dir, "0123456789abcdef")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "Error: No article with id '0123456789abcdef' in the index. Run `assistant list` to see the ids."
    )
    assert listing(index_dir) == before


def test_cli_remove_checks_every_id_before_removing_any(index_dir, cli):
    before = listing(index_dir)
    result = cli("remove", "--index-dir", index_dir, before[0]["doc_id"], "nope")
    assert result.exit_code == 1 and "No article with id 'nope'" in result.output
    assert listing(index_dir) == before


def test_cli_ingest_folder_of_only_bad_files_fails(index_dir, tmp_path):
    (tmp_path / "a.txt").write_bytes(b"")
    (tmp_path / "b.txt").write_bytes(b"\xff\xfe\xfa not utf-8 at all \x00\x00")
    (tmp_path / "c.csv").write_text("a,b\n1,2\n")
    before = listing(index_dir)
    result = run_cli("ingest", "--json", "--index-dir", index_dir, tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert_report_schema(report)
    assert [Path(item["source"]).name for item in report["failed"]] == ["a.txt", "b.txt"]
    assert [Path(item["source"]).name for item in report["skipped"]] == ["c.csv"]
    assert listing(index_dir) == before


# -- ingest, list, show, remove, reindex ----------------------------------------------------

def test_cli_ingest_json_schema_and_exit_codes(tmp_path, cli):
    index = tmp_path / "index"
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "harbour.txt").write_text(HARBOUR_TXT, encoding="utf-8")
    (folder / "notes.odt").write_bytes(b"PK\x03\x04")
    (folder / "README.md").write_text("# What this folder is\n\nNews I saved.\n", encoding="utf-8")
    missing = tmp_path / "missing.txt"

    result = cli("ingest", "--json", "--index-dir", index, folder, missing)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert_report_schema(report)
    ((added),) = report["added"]
    assert added["title"] == "Rotterdam reopens container terminals after storm"
    assert added["source"] == "https://news.example.org/2024/03/12/rotterdam-storm"
    assert {Path(item["source"]).name: item["reason"] for item in report["skipped"]} == {
        "README.md": "a folder's README/licence file, not an article; name the file itself to index it",
        "notes.odt": "unsupported file type '.odt'",
    }
    assert report["failed"] == [{"source": str(missing), "error": f"{missing}: no such file or folder; check the path"}]
    titles = {r["title"] for r in json.loads(cli("list", "--json", "--index-dir", index).stdout)}
    assert titles == {SEED_TITLE, added["title"]}  # the good source is indexed all the same

    result = cli("ingest", "--json", "--index-dir", index, folder / "harbour.txt", SEEDS)
    assert result.exit_code == 0
    again = json.loads(result.stdout)
    assert_report_schema(again)
    assert again["added"] == [] and again["failed"] == []
    assert [item["doc_id"] for item in again["skipped"]][0] == added["doc_id"]
    assert all(item["reason"].startswith("duplicate of ") for item in again["skipped"])


def test_cli_ingest_text_output(tmp_path, cli):
    article = tmp_path / "harbour.txt"
    article.write_text(HARBOUR_TXT, encoding="utf-8")
    result = cli("ingest", "--index-dir", tmp_path / "index", "--no-seed", article)
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("added    ") and lines[0].endswith("passages  Rotterdam reopens container terminals after storm")
    assert lines[-1] == "1 added, 0 skipped, 0 failed"
    assert result.stderr == ""


def test_cli_list_show_remove_reindex(tmp_path, cli):
    index = tmp_path / "index"
    article = tmp_path / "harbour.txt"
    article.write_text(HARBOUR_TXT, encoding="utf-8")
    assert cli("ingest", "--index-dir", index, article).exit_code == 0

    listed = json.loads(cli("list", "--json", "--index-dir", index).stdout)
    assert [set(item) for item in listed] == [{"doc_id", "title", "source", "published", "added", "passages"}] * 2
    harbour = next(item for item in listed if item["title"].startswith("Rotterdam"))
    text = cli("list", "--index-dir", index).stdout
    assert harbour["doc_id"] in text and "Rotterdam reopens container terminals after storm" in text
    assert text.strip().endswith(f"2 articles, {sum(item['passages'] for item in listed)} passages")

    shown = json.loads(cli("show", "--json", "--index-dir", index, harbour["doc_id"]).stdout)
    assert set(shown) == {"doc_id", "title", "source", "published", "text"}
    assert shown["published"] == "2024-03-12"
    assert shown["text"].startswith("Rotterdam's port authority reopened its container terminals on Tuesday")
    plain = cli("show", "--index-dir", index, harbour["doc_id"]).stdout
    assert plain.startswith("Rotterdam reopens container terminals after storm\nhttps://news.example.org/")
    assert shown["text"] in plain

    result = cli("reindex", "--json", "--index-dir", index)
    assert json.loads(result.stdout) == {"reindexed": 2, "model": "sentence-transformers/all-MiniLM-L6-v2"}
    assert json.loads(cli("list", "--json", "--index-dir", index).stdout) == listed

    result = cli("remove", "--json", "--index-dir", index, harbour["doc_id"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"removed": [harbour]}
    assert [item["title"] for item in json.loads(cli("list", "--json", "--index-dir", index).stdout)] == [SEED_TITLE]


def test_cli_index_dir_from_environment(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "from-env"))
    result = cli("list", "--no-seed")
    assert result.exit_code == 0
    assert result.stdout.strip() == "The index is empty. Add articles with `assistant ingest PATH_OR_URL`."
    assert (tmp_path / "from-env" / "catalog.sqlite").exists()


# -- light commands stay light --------------------------------------------------------------

HEAVY = ("sentence_transformers", "gradio", "torch", "transformers", "chromadb")
PROBE = """
import sys
from assistant.cli import main
try:
    main({args!r})
except SystemExit as exit:
    code = exit.code
print("\\nHEAVY=" + ",".join(sorted(m for m in {heavy!r} if m in sys.modules)), "EXIT=" + str(code))
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["list", "--help"], ["ingest", "--help"], ["list"], ["list", "--json"], ["show", "DOC"]],
    ids=["help", "list help", "ingest help", "list", "list json", "show"],
)
def test_cli_light_commands_import_no_model_or_ui(index_dir, args):
    if args == ["show", "DOC"]:
        args = ["show", listing(index_dir)[0]["doc_id"]]
    if args[0] in {"list", "show"} and "--help" not in args:
        args = [*args, "--index-dir", str(index_dir)]
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
                            capture_output=True, text=True, timeout=120)
    *_, last = result.stdout.strip().splitlines()
    assert last == "HEAVY= EXIT=0", result.stdout[-2000:] + result.stderr[-2000:]
