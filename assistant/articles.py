"""Load articles from files, folders and URLs: Article(doc_id, title, source, published, text)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .errors import SourceError

SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"}
# A folder's own notes, not articles: skipped when walking a folder, indexed when named.
FOLDER_NOTES = {"readme", "license", "licence", "changelog", "contributing", "notice", "copying"}
USER_AGENT = "assistant-news-reader/0.1 (+https://github.com/)"


@dataclass(frozen=True)
class Article:
    """One article as stored: `text` is what every citation's offsets point into."""

    title: str
    source: str
    text: str
    published: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def doc_id(self) -> str:
        return article_id(self.text)


def normalise(text: str) -> str:
    """The form the article id is hashed from: NFC, whitespace runs collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def article_id(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:16]


def clean_text(text: str) -> str:
    """The stored text: newlines unified and outer whitespace trimmed, nothing else touched."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def iter_sources(source: str) -> Iterator[tuple[str, str | None]]:
    """Expand one source into (source, skip_reason) pairs: folders are walked recursively."""
    if is_url(source):
        yield source, None
        return
    path = Path(source)
    if not path.is_dir():
        yield source, None
        return
    for child in sorted(path.rglob("*")):
        relative = child.relative_to(path)
        if child.is_dir() or any(part.startswith(".") for part in relative.parts):
            continue
        if child.stem.lower() in FOLDER_NOTES:
            yield str(child), "a folder's README/licence file, not an article; name the file itself to index it"
        elif child.suffix.lower() in SUFFIXES:
            yield str(child), None
        else:
            yield str(child), f"unsupported file type {child.suffix or '(none)'!r}"


def load(source: str, *, max_bytes: int = 20_000_000, timeout: float = 15.0) -> Article:
    """Load one file or URL; raise SourceError with a one-line fix when it cannot be read."""
    if is_url(source):
        return _load_url(source, max_bytes=max_bytes, timeout=timeout)
    path = Path(source)
    if not path.exists():
        raise SourceError(source, "no such file or folder; check the path")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise SourceError(
            source,
            f"unsupported file type {suffix or '(none)'!r}; use one of "
            + " ".join(sorted(SUFFIXES)),
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise SourceError(
            source,
            f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit; "
            "split it or raise ASSISTANT_MAX_BYTES",
        )
    data = path.read_bytes()
    location = str(path.resolve())
    if suffix == ".pdf":
        return _from_pdf(data, source, location)
    if suffix in {".html", ".htm"}:
        return _from_html(_decode(data, source), source, location)
    text = _decode(data, source)
    if suffix in {".md", ".markdown"}:
        return _from_markdown(text, source, location, default_title=path.stem)
    return _from_plain(text, source, location, default_title=path.stem)


def _decode(data: bytes, source: str) -> str:
    if not data.strip():
        raise SourceError(source, "file is empty; nothing to index")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    elif b"\x00" in data[:8192]:
        raise SourceError(source, "looks like a binary file, not text; give a .txt, .md, .html or .pdf")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SourceError(
            source,
            f"is not UTF-8 text (bad byte at position {error.start}); convert it first, "
            "e.g. `iconv -f latin1 -t utf-8 FILE > FILE.utf8.txt`",
        ) from None


def from_text(text: str, title: str, source: str) -> Article:
    """An article from text pasted or typed by the user."""
    return _finish(source, title, source, text)


def _finish(source: str, title: str, location: str, text: str, published: str = "", **meta) -> Article:
    text = clean_text(text)
    if not any(ch.isalnum() for ch in text):
        raise SourceError(source, "has no text to index (empty after extraction)")
    title = " ".join((title or "").split()) or _first_line(text)
    meta = {key: str(value) for key, value in meta.items() if value}
    return Article(title=title, source=location, text=text, published=str(published or ""), meta=meta)


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= 100 else line[:97].rstrip() + "..."


_HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z_ -]{1,20}):\s*(.*)$")
_HEADER_KEYS = {"title", "source", "url", "date", "published", "license", "author", "outlet", "language"}


def _parse_header(lines: list[str]) -> dict[str, str]:
    meta = {}
    for line in lines:
        match = _HEADER_LINE.match(line.strip())
        if not match:
            continue
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        meta[match.group(1).strip().lower().replace(" ", "_")] = value
    return meta


def _from_metadata(text: str, meta: dict, source: str, location: str, default_title: str) -> Article:
    published = meta.pop("published", "") or meta.pop("date", "")
    title = meta.pop("title", "") or _markdown_heading(text) or default_title
    location = meta.pop("url", "") or meta.pop("source", "") or location
    return _finish(source, title, location, text, published, **meta)


def _from_plain(text: str, source: str, location: str, default_title: str) -> Article:
    """Plain text, optionally opened by `KEY: value` header lines (TITLE, SOURCE, DATE, ...)."""
    lines = text.lstrip("\ufeff").split("\n")
    header = []
    for line in lines:
        match = _HEADER_LINE.match(line.strip())
        if not match or match.group(1).strip().lower() not in _HEADER_KEYS:
            break
        header.append(line)
    if header:
        meta = _parse_header(header)
        body = "\n".join(lines[len(header):])
        return _from_metadata(body, meta, source, location, default_title)
    return _finish(source, "", location, text)


def _from_markdown(text: str, source: str, location: str, default_title: str) -> Article:
    """Markdown; YAML-style front matter between `---` lines is read as metadata."""
    text = text.replace("\r\n", "\n")
    meta: dict[str, str] = {}
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            meta = _parse_header(text[4:end].split("\n"))
            text = text[end + 4:].split("\n", 1)[1] if "\n" in text[end + 4:] else ""
    return _from_metadata(text, meta, source, location, default_title)


def _markdown_heading(text: str) -> str:
    match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def _from_html(html: str, source: str, location: str) -> Article:
    """Main text only (trafilatura drops navigation, scripts and boilerplate)."""
    import trafilatura  # lazy: only HTML sources need it

    document = trafilatura.bare_extraction(
        html, url=location if is_url(location) else None, with_metadata=True,
        include_comments=False, include_tables=False, favor_precision=True,
    )
    if document is None or not (document.text or "").strip():
        raise SourceError(source, "no article text found in this HTML page")
    url = document.url if document.url and is_url(document.url) else location
    return _finish(
        source, document.title or "", url, document.text, document.date or "",
        author=document.author, sitename=document.sitename,
    )


def _from_pdf(data: bytes, source: str, location: str) -> Article:
    import io

    from pypdf import PdfReader  # lazy: only PDF sources need it
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except (PdfReadError, ValueError, KeyError, OSError) as error:
        raise SourceError(source, f"cannot read this PDF ({error}); is the file complete?") from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text.strip():
        raise SourceError(source, "PDF has no text layer (scanned?); run OCR on it first")
    title = str(info.get("/Title") or "") or Path(source).stem
    published = _pdf_date(str(info.get("/CreationDate") or ""))
    return _finish(source, title, location, text, published)


def _pdf_date(value: str) -> str:
    match = re.match(r"D:(\d{4})(\d{2})(\d{2})", value)
    return "-".join(match.groups()) if match else ""


def _load_url(url: str, *, max_bytes: int, timeout: float) -> Article:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            content_type = response.headers.get_content_type()
            charset = response.headers.get_content_charset() or "utf-8"
            data = response.read(max_bytes + 1)
            final_url = response.geturl()
    except urllib.error.HTTPError as error:
        raise SourceError(url, f"the server answered HTTP {error.code}; check the address") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise SourceError(url, f"could not fetch ({reason}); check the address and your connection") from None
    if len(data) > max_bytes:
        raise SourceError(url, f"page is over the {max_bytes / 1e6:.0f} MB limit; save the article text and ingest the file")
    if content_type == "application/pdf":
        return _from_pdf(data, url, final_url)
    if not data.strip():
        raise SourceError(url, "the page is empty")
    text = data.decode(charset, errors="replace")
    if content_type == "text/plain":
        return _from_plain(text, url, final_url, default_title=final_url)
    if content_type not in {"text/html", "application/xhtml+xml"}:
        raise SourceError(url, f"unsupported content type {content_type!r}; give an HTML page, text or PDF")
    return _from_html(text, url, final_url)
