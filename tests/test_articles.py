"""Loading articles: .txt (with and without a header), .md front matter, .html, .pdf, URLs, bad input.

`write_news_folder` builds the folder of small realistic articles that test_ingest.py indexes too.
"""

from __future__ import annotations

import calendar
import http.server
import os
import socket
import threading
from pathlib import Path

import pytest

from assistant.articles import Article, article_id, iter_sources, load, normalise
from assistant.errors import SourceError

HARBOUR_TXT = """\
TITLE: Rotterdam reopens container terminals after storm
SOURCE: https://news.example.org/2024/03/12/rotterdam-storm
DATE: 2024-03-12

Rotterdam's port authority reopened its container terminals on Tuesday, a day after gusts of \
up to 130 km/h forced a rare shutdown of Europe's largest port.

About 40 ships waited at anchor in the North Sea overnight. "We expect the backlog to clear by \
Thursday," said harbour master René de Vries.

Shipping lines warned of knock-on delays of two to three days for cargo bound for Germany.
"""

COUNCIL_TXT = """\
City council approves 12 km of protected bike lanes

The city council voted 9 to 4 on Monday to build 12 km of protected bike lanes along the \
river by 2026. Construction will start in the spring.

Opponents said the plan removes 300 parking spaces. Mayor Ana Lopez called it “the cheapest \
road safety measure we have”.
"""

DROUGHT_MD = """\
---
title: "Farmers in Andalusia face a third dry summer"
published: 2024-04-20
source: https://agri.example.com/andalusia-drought
author: Marta Gil
language: en
---
# Farmers in Andalusia face a third dry summer

Reservoirs in Andalusia stood at 22 percent of capacity in April, the regional water agency said.

Olive growers have cut irrigation by half. Some have stopped picking altogether.

* Reservoir levels: 22 percent
* Irrigation cut: 50 percent
"""

ELECTION_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Turnout hits record in Valdoria regional vote | Example Herald</title>
  <meta property="og:title" content="Turnout hits record in Valdoria regional vote">
  <meta property="og:site_name" content="Example Herald">
  <meta property="article:published_time" content="2024-05-05T18:30:00+00:00">
  <meta name="author" content="Jonas Berg">
  <link rel="canonical" href="https://herald.example.net/politics/valdoria-turnout">
  <script>window.analytics = {track: function () { return "TRACKING-SCRIPT-TEXT"; }};</script>
  <style>.cookie { position: fixed; }</style>
</head>
<body>
  <div class="cookie-banner" id="cookie-consent">We use cookies to improve your experience.
    <button>Accept all cookies</button></div>
  <header><nav><ul>
    <li><a href="/">Home</a></li><li><a href="/politics">Politics</a></li>
    <li><a href="/sport">Sport</a></li><li><a href="/subscribe">Subscribe now</a></li>
  </ul></nav></header>
  <main>
    <article>
      <h1>Turnout hits record in Valdoria regional vote</h1>
      <p class="byline">By Jonas Berg, 5 May 2024</p>
      <p>Turnout in Sunday's regional election in Valdoria reached 78 percent, the highest since
      the region was created in 1972, the electoral commission said on Monday.</p>
      <p>The Green Alliance won 31 of the 80 seats and will need a partner to govern. Its leader,
      Petra Holm, said talks would begin on Wednesday.</p>
      <p>Officials credited the new postal voting rules, which let voters request a ballot
      online up to three days before the vote.</p>
    </article>
  </main>
  <aside class="related"><h3>Most read</h3><ul><li><a href="/x">Ten recipes for summer</a></li></ul></aside>
  <footer><p>Copyright 2024 Example Herald. All rights reserved.</p>
    <a href="/privacy">Privacy policy</a> <a href="/terms">Terms of use</a></footer>
  <script src="/static/app.js"></script>
</body>
</html>
"""
ELECTION_BOILERPLATE = [
    "TRACKING-SCRIPT-TEXT", "cookies", "Subscribe now", "Sport", "Most read", "Ten recipes",
    "Copyright 2024", "Privacy policy", "Terms of use",
]

BUDGET_PDF_TITLE = "Harbour city budget puts schools first"
BUDGET_PDF_LINES = [
    "The harbour city's 2025 budget raises spending on schools by 8 percent.",
    "The finance committee approved the plan on Tuesday by six votes to one.",
    "Road repairs will get 14 million euros, down from 19 million last year.",
]
BUDGET_PDF_DATE = "2024-04-02"


def write_pdf(path: Path, title: str, lines: list[str], date: str) -> Path:
    """A one-page PDF with a text layer, its /Title and /CreationDate set (reportlab)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    # reportlab takes /CreationDate from SOURCE_DATE_EPOCH when it is set.
    epoch = calendar.timegm(tuple(int(x) for x in date.split("-")) + (12, 0, 0))
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    try:
        pdf = canvas.Canvas(str(path), pagesize=A4)
        pdf.setTitle(title)
        y = 780
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 20
        pdf.save()
    finally:
        if old is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old
    return path


def write_news_folder(folder: Path) -> Path:
    """Five small news articles, one per supported format, plus a nested subfolder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "harbour.txt").write_text(HARBOUR_TXT, encoding="utf-8")
    (folder / "council.txt").write_text(COUNCIL_TXT, encoding="utf-8")
    (folder / "regional").mkdir(exist_ok=True)
    (folder / "regional" / "drought.md").write_text(DROUGHT_MD, encoding="utf-8")
    (folder / "election.html").write_text(ELECTION_HTML, encoding="utf-8")
    write_pdf(folder / "budget.pdf", BUDGET_PDF_TITLE, BUDGET_PDF_LINES, BUDGET_PDF_DATE)
    return folder


NEWS_TITLES = {
    "harbour.txt": "Rotterdam reopens container terminals after storm",
    "council.txt": "City council approves 12 km of protected bike lanes",
    "regional/drought.md": "Farmers in Andalusia face a third dry summer",
    "election.html": "Turnout hits record in Valdoria regional vote",
    "budget.pdf": BUDGET_PDF_TITLE,
}


@pytest.fixture(scope="module")
def news(tmp_path_factory) -> Path:
    return write_news_folder(tmp_path_factory.mktemp("news"))


def test_load_txt_header_gives_title_source_date_and_body(news):
    article = load(str(news / "harbour.txt"))
    assert article.title == "Rotterdam reopens container terminals after storm"
    assert article.source == "https://news.example.org/2024/03/12/rotterdam-storm"
    assert article.published == "2024-03-12"
    assert article.text.startswith("Rotterdam's port authority reopened")
    assert "TITLE:" not in article.text and "SOURCE:" not in article.text
    assert article.text.endswith("for cargo bound for Germany.")


def test_load_txt_without_header_uses_first_line_and_path(news):
    article = load(str(news / "council.txt"))
    assert article.title == "City council approves 12 km of protected bike lanes"
    assert article.source == str((news / "council.txt").resolve())
    assert article.published == ""
    assert article.text == COUNCIL_TXT.strip()
    assert "“the cheapest road safety measure we have”" in article.text


def test_load_txt_keeps_a_body_line_that_looks_like_a_header(tmp_path):
    path = tmp_path / "quote.txt"
    path.write_text("Warning: the bridge closes at noon.\n\nTraffic will be diverted.\n", encoding="utf-8")
    article = load(str(path))
    assert article.text.startswith("Warning: the bridge closes at noon.")


def test_load_markdown_front_matter_is_metadata(news):
    article = load(str(news / "regional" / "drought.md"))
    assert article.title == "Farmers in Andalusia face a third dry summer"
    assert article.published == "2024-04-20"
    assert article.source == "https://agri.example.com/andalusia-drought"
    assert article.meta == {"author": "Marta Gil", "language": "en"}
    assert "---" not in article.text and "published:" not in article.text
    assert "Reservoirs in Andalusia stood at 22 percent" in article.text
    assert article.text.endswith("* Irrigation cut: 50 percent")


def test_load_seed_has_its_front_matter():
    from conftest import SEEDS

    (path,) = sorted(SEEDS.glob("*.md"))
    article = load(str(path))
    assert article.title == "Sino-US defense ministers meet in Singapore after an 18-month lapse"
    assert article.published == "2024-05-31"
    assert article.meta["outlet"] == "Lianhe Zaobao"
    assert article.meta["language"] == "en"
    assert "machine translation" in article.meta["note"].lower()
    assert article.text.startswith("The Sino -US defense ministers held a meeting after a lapse of 18 months.")


def test_load_html_keeps_main_text_and_page_metadata(news):
    article = load(str(news / "election.html"))
    assert article.title == "Turnout hits record in Valdoria regional vote"
    assert article.published == "2024-05-05"
    assert article.source == "https://herald.example.net/politics/valdoria-turnout"
    assert "Turnout in Sunday's regional election in Valdoria reached 78 percent" in article.text
    assert "Officials credited the new postal voting rules" in article.text
    for junk in ELECTION_BOILERPLATE:
        assert junk not in article.text, junk


def test_load_html_without_canonical_link_keeps_the_file_path(tmp_path):
    path = tmp_path / "page.htm"
    path.write_text(ELECTION_HTML.replace('<link rel="canonical" href="https://herald.example.net/politics/valdoria-turnout">', ""),
                    encoding="utf-8")
    article = load(str(path))
    assert article.source == str(path.resolve())
    assert "reached 78 percent" in article.text


def test_load_pdf_reads_text_layer_title_and_date(news):
    article = load(str(news / "budget.pdf"))
    assert article.title == BUDGET_PDF_TITLE
    assert article.published == BUDGET_PDF_DATE
    assert article.source == str((news / "budget.pdf").resolve())
    for line in BUDGET_PDF_LINES:
        assert line in article.text


def test_article_id_ignores_whitespace_and_unicode_form():
    text = "Café reopens.\n\nIt serves   coffee."
    assert article_id(text) == article_id("  Cafe\u0301 reopens. It serves coffee.\r\n")
    assert article_id(text) != article_id("Café reopens. It serves tea.")
    assert normalise(" a\n\tb ") == "a b"
    assert Article("t", "s", text).doc_id == article_id(text)


def test_iter_sources_walks_folders_recursively_and_reports_unsupported(news, tmp_path):
    folder = write_news_folder(tmp_path / "walk")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / ".hidden.txt").write_text("A hidden draft.", encoding="utf-8")
    (folder / ".git").mkdir()
    (folder / ".git" / "notes.txt").write_text("Version control notes.", encoding="utf-8")
    found = dict(iter_sources(str(folder)))
    assert {Path(p).relative_to(folder).as_posix() for p, reason in found.items() if reason is None} == set(NEWS_TITLES)
    assert "unsupported file type '.jpg'" in found[str(folder / "photo.jpg")]
    assert not any(".hidden" in p or ".git" in p for p in found)


@pytest.mark.parametrize("name", ["README.md", "README.txt", "readme.md", "LICENSE.txt", "CHANGELOG.md"])
def test_iter_sources_skips_a_folders_readme_but_not_when_named(tmp_path, name):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "story.txt").write_text("A story.", encoding="utf-8")
    (folder / name).write_text("# About this folder\n\nWhat the files are.", encoding="utf-8")
    found = dict(iter_sources(str(folder)))
    assert found[str(folder / "story.txt")] is None
    assert "not an article" in found[str(folder / name)]
    assert dict(iter_sources(str(folder / name))) == {str(folder / name): None}


def test_iter_sources_on_the_current_events_folder():
    from conftest import SHARED

    folder = SHARED / "data" / "current_events"
    if not folder.is_dir():
        pytest.skip(f"{folder} is not here")
    found = dict(iter_sources(str(folder)))
    articles = [p for p, reason in found.items() if reason is None]
    assert len(articles) == 60 and all(p.endswith(".txt") for p in articles)
    assert "not an article" in found[str(folder / "README.md")]
    assert "unsupported file type '.jsonl'" in found[str(folder / "items.jsonl")]


# -- bad input ------------------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD_FILES = {
    "empty": ("empty.txt", b"", "file is empty"),
    "whitespace only": ("blank.md", b"  \n\n\t\n", "file is empty"),
    "binary": ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "binary file"),
    "broken pdf": ("report.pdf", b"%PDF-1.4\n\x00\x01\x02 garbage \xff\xfe", "cannot read this PDF"),
    "unsupported suffix": ("notes.docx", b"PK\x03\x04 word document", "unsupported file type '.docx'"),
    "latin-1 bytes": ("caf\xe9.txt", "Le café a rouvert à Genève.".encode("latin-1"), "is not UTF-8 text"),
    "html app shell": ("app.html", b"<html><head><title>News</title><script src='/app.js'></script></head><body>"
                       b"<noscript>Enable JavaScript to run this app.</noscript><div id='root'></div></body></html>",
                       "no article text"),
    "punctuation only": ("dots.txt", b"... --- !!!", "no text to index"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_load_bad_file_raises_one_line_source_error(tmp_path, case):
    name, data, expected = BAD_FILES[case]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(SourceError) as raised:
        load(str(path))
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message and message.startswith(str(path))


def test_load_file_over_the_size_limit(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as file:
        file.truncate(50_000_000)  # sparse: 50 MB without writing them
    with pytest.raises(SourceError, match=r"50\.0 MB, over the 20 MB limit; split it or raise ASSISTANT_MAX_BYTES"):
        load(str(path), max_bytes=20_000_000)


def test_load_missing_path(tmp_path):
    with pytest.raises(SourceError, match="no such file or folder"):
        load(str(tmp_path / "nope.txt"))


def test_load_unreachable_url():
    url = f"http://127.0.0.1:{_closed_port()}/story"
    with pytest.raises(SourceError, match="could not fetch .*check the address"):
        load(url, timeout=5)


# -- URLs from a local server ---------------------------------------------------------------

class _Pages(http.server.BaseHTTPRequestHandler):
    pages: dict[str, tuple[int, str, bytes]] = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        status, content_type, body = self.pages.get(self.path, (404, "text/html", b"<h1>Not found</h1>"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def news_server():
    """A local web server on 127.0.0.1 serving a news page, text, a PDF and errors."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_load_url_html_page_drops_boilerplate(news_server):
    server, base = news_server
    _Pages.pages["/politics/valdoria"] = (200, "text/html; charset=utf-8", ELECTION_HTML.encode())
    article = load(f"{base}/politics/valdoria")
    assert article.title == "Turnout hits record in Valdoria regional vote"
    assert article.published == "2024-05-05"
    assert article.source == "https://herald.example.net/politics/valdoria-turnout"
    assert "Petra Holm, said talks would begin on Wednesday" in article.text
    for junk in ELECTION_BOILERPLATE:
        assert junk not in article.text, junk


def test_load_url_plain_text_and_pdf(news_server, tmp_path):
    server, base = news_server
    _Pages.pages["/wire.txt"] = (200, "text/plain; charset=utf-8", HARBOUR_TXT.encode())
    pdf = write_pdf(tmp_path / "b.pdf", BUDGET_PDF_TITLE, BUDGET_PDF_LINES, BUDGET_PDF_DATE)
    _Pages.pages["/budget"] = (200, "application/pdf", pdf.read_bytes())
    text = load(f"{base}/wire.txt")
    assert text.title == "Rotterdam reopens container terminals after storm"
    assert text.text.startswith("Rotterdam's port authority")
    report = load(f"{base}/budget")
    assert report.title == BUDGET_PDF_TITLE and BUDGET_PDF_LINES[0] in report.text


@pytest.mark.parametrize(
    "path, page, expected",
    [
        ("/gone", None, "the server answered HTTP 404"),
        ("/empty", (200, "text/html", b""), "the page is empty"),
        ("/data.json", (200, "application/json", b'{"a": 1}'), "unsupported content type 'application/json'"),
        ("/big", (200, "text/html", b"<p>" + b"word " * 300_000 + b"</p>"), "over the 1 MB limit"),
    ],
    ids=["404", "empty", "json", "too big"],
)
def test_load_url_bad_answers(news_server, path, page, expected):
    server, base = news_server
    if page:
        _Pages.pages[path] = page
    with pytest.raises(SourceError) as raised:
        load(base + path, max_bytes=1_000_000)
    assert expected in str(raised.value) and "\n" not in str(raised.value)
