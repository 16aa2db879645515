"""The Gradio edge: a chat whose answers open onto their quoted sources, and an Articles tab.

`build_app(assistant)` builds the Blocks without starting a server (tests build it directly);
`launch(app, host, port)` starts it with the stylesheet. Article text, titles and sources are
untrusted: everything taken from an article is HTML-escaped before it reaches the page.

Gradio's API: `/ask` returns `Answer.to_json()` (the data of `assistant ask --json`); the chat
itself is `/chat`.
"""

import html
import re
import time
from pathlib import Path
from typing import Iterator

from .answer import Answer
from .api import IngestReport
from .articles import SUFFIXES, is_url, iter_sources, load
from .errors import AssistantError, SourceError
from .passages import split_sentences

# How much of the article is shown around a quote in Sources: sentences either side, and a cap
# for run-on sentences.
CONTEXT_SENTENCES = 2
CONTEXT_CHARS = 500
# The answer is computed in one go; it is shown in this many steps so the reader sees it arrive.
STREAM_STEPS = 12
STREAM_DELAY = 0.03

EXAMPLES = [
    "How long did the meeting between Austin and Dong Jun last?",
    "Where was the meeting held?",
    "Who spoke for the Chinese Ministry of National Defense?",
    "What working group will the two sides set up?",
]
TABLE_HEADERS = ["Title", "Source", "Date", "Passages", "Added"]

CSS = """
.answer-text .cite, .sources .cite { color: var(--color-accent); font-weight: 600; white-space: nowrap; }
.searched { font-size: 0.85em; opacity: 0.75; margin-bottom: 0.4em; }
.abstain { border-left: 4px solid #d97706; padding: 0.2em 0 0.2em 0.7em; font-style: italic; }
.abstain .tag { font-style: normal; font-weight: 600; color: #b45309; margin-right: 0.3em; }
.error { border-left: 4px solid #dc2626; padding: 0.2em 0 0.2em 0.7em; }
.error .tag { font-weight: 600; color: #b91c1c; margin-right: 0.3em; }
#chatbot .sources, #chatbot .sources .source-title, #chatbot .sources blockquote.context,
#chatbot .sources mark { font-size: 15px; }
#chatbot .sources .source-meta { font-size: 13px; }
.sources .source { margin: 0.2em 0 0.9em 0; }
.sources .source-title { font-weight: 600; }
.sources .source-meta { opacity: 0.75; margin: 0.1em 0 0.3em 0; word-break: break-all; }
.sources blockquote.context { margin: 0 !important; padding: 0.4em 0.7em; line-height: 1.5;
                              border-left: 3px solid var(--border-color-primary); }
.sources mark { background: #fde68a; color: #111; padding: 0 0.1em; border-radius: 2px; }
.article-view { max-height: 32em; overflow-y: auto; line-height: 1.55; }
.article-view .meta { font-size: 0.85em; opacity: 0.75; }
"""


# -- the chat -------------------------------------------------------------------------------

def chat(assistant, message: str, history: list[dict] | None = None, k: int | None = None,
         doc_ids: list[str] | None = None) -> Iterator[list]:
    """Answer one chat turn: yields the answer as it is shown, then the answer with its Sources."""
    import gradio as gr  # lazy: importing gradio costs ~4 s

    try:
        answer = assistant.ask(message, plain_history(history), k=int(k) if k else None, doc_ids=doc_ids or None)
    except AssistantError as error:
        # Shown in the conversation: a gr.Error raised here leaves ChatInterface's textbox
        # disabled (Gradio 6.31), and the chat must keep working.
        gr.Warning(str(error))
        yield [gr.ChatMessage(f'<div class="error"><span class="tag">Cannot answer.</span>{_text(str(error))}</div>')]
        return
    if answer.answered:
        shown = len(answer.answer)
        for step in range(1, STREAM_STEPS):
            cut = answer.answer.rfind(" ", 0, shown * step // STREAM_STEPS)
            if cut > 0:
                yield [gr.ChatMessage(answer_html(answer, upto=cut))]
                time.sleep(STREAM_DELAY)
    messages = [gr.ChatMessage(answer_html(answer))]
    if answer.citations:
        title = f"Sources ({len(answer.citations)})"
        messages.append(gr.ChatMessage(sources_html(assistant, answer), metadata={"title": title, "status": "done"}))
    yield messages


def plain_history(history: list[dict] | None) -> list[dict]:
    """The conversation as {"role", "content": text}, without the Sources blocks."""
    turns = []
    for message in history or []:
        if message.get("metadata") and message["metadata"].get("title"):
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        if not isinstance(content, str) or not content.strip():
            continue
        if message.get("role") == "assistant":
            content = _html_to_text(content)
        turns.append({"role": message.get("role"), "content": content})
    return turns


def _html_to_text(markup: str) -> str:
    """An answer bubble's text: the quotes and markers, without the search query."""
    markup = re.sub(r'<div class="searched">.*?</div>', "", markup)
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


def _text(text: str) -> str:
    """Article text as HTML: escaped, line breaks kept, no blank line to end the HTML block."""
    return html.escape(text).replace("\n", "<br>")


def answer_html(answer: Answer, upto: int | None = None) -> str:
    """The answer bubble: the quotes with their [n] markers (the first `upto` characters)."""
    searched = ""
    if answer.search_query != answer.question:
        searched = f'<div class="searched">Searched for: <i>{_text(answer.search_query)}</i></div>'
    if not answer.answered:
        return (f'<div class="abstain">{searched}<span class="tag">Not in the articles.</span>'
                f"{_text(answer.answer)}</div>")
    parts, used = [], 0
    for citation in answer.citations:
        quote = citation.quote
        if upto is not None and used + len(quote) > upto:
            parts.append(_text(quote[: max(0, upto - used)]) + " …")
            break
        parts.append(f'{_text(quote)} <span class="cite">[{citation.n}]</span>')
        used += len(quote) + len(f" [{citation.n}] ")
    return f'<div class="answer-text">{searched}{" ".join(parts)}</div>'


def sources_html(assistant, answer: Answer) -> str:
    """Each citation: title, source, and the quote marked inside its paragraph."""
    texts: dict[str, str | None] = {}
    blocks = []
    for c in answer.citations:
        if c.doc_id not in texts:
            try:
                record = assistant.article(c.doc_id)
                texts[c.doc_id] = record.text
            except AssistantError:  # removed since the answer was made
                texts[c.doc_id] = None
        text = texts[c.doc_id]
        if text is not None and text[c.start:c.end] == c.quote:
            before, after = context(text, c.start, c.end)
        else:
            before, after = "", ""
        blocks.append(
            '<div class="source">'
            f'<div class="source-title"><span class="cite">[{c.n}]</span> {_text(c.title)}</div>'
            f'<div class="source-meta">{_source_link(c.source)}</div>'
            f'<blockquote class="context">{_text(before)}<mark>{_text(c.quote)}</mark>{_text(after)}</blockquote>'
            "</div>"
        )
    return f'<div class="sources">{"".join(blocks)}</div>'


def _source_link(source: str) -> str:
    if not is_url(source):
        return _text(source)
    return f'<a href="{html.escape(source, quote=True)}" target="_blank" rel="noopener noreferrer">{_text(source)}</a>'


def context(text: str, start: int, end: int) -> tuple[str, str]:
    """The text before and after text[start:end] within its paragraph: up to CONTEXT_SENTENCES
    sentences each side, "…" where the paragraph goes on."""
    para_start = text.rfind("\n", 0, start) + 1
    para_end = text.find("\n", end)
    para_end = len(text) if para_end == -1 else para_end
    sentences = split_sentences(text[para_start:para_end])
    offset = start - para_start, end - para_start
    first = next((i for i, s in enumerate(sentences) if s.end > offset[0]), 0)
    last = max((i for i, s in enumerate(sentences) if s.start < offset[1]), default=len(sentences) - 1)
    lo = para_start + sentences[max(0, first - CONTEXT_SENTENCES)].start if sentences else para_start
    hi = para_start + sentences[min(len(sentences) - 1, last + CONTEXT_SENTENCES)].end if sentences else para_end
    lo, hi = min(lo, start), max(hi, end)
    if start - lo > CONTEXT_CHARS:
        lo = text.find(" ", start - CONTEXT_CHARS, start) + 1 or start - CONTEXT_CHARS
    if hi - end > CONTEXT_CHARS:
        cut = text.rfind(" ", end, end + CONTEXT_CHARS)
        hi = cut if cut > end else end + CONTEXT_CHARS
    before = ("… " if text[para_start:lo].strip() else "") + text[lo:start]
    after = text[end:hi] + (" …" if text[hi:para_end].strip() else "")
    return before, after


def ask_json(assistant, question: str, k: int | None = None, doc_ids: list[str] | None = None,
             history: list[dict] | None = None) -> dict:
    """The `/ask` API: the same JSON as `assistant ask --json`."""
    import gradio as gr  # lazy: importing gradio costs ~4 s

    try:
        return assistant.ask(question, history or [], k=k or None, doc_ids=doc_ids or None).to_json()
    except AssistantError as error:
        raise gr.Error(str(error), print_exception=False) from None


# -- the articles tab -----------------------------------------------------------------------

def ingest_files(assistant, paths: list[str], progress=None) -> tuple[str, IngestReport]:
    """Ingest uploaded files under their original names; returns (status Markdown, report)."""
    paths = [str(p) for p in paths or []]
    names = {path: f"upload:{Path(path).name}" for path in paths}
    report = assistant.ingest(paths, progress=progress, names=names)
    return _report_markdown(report, {path: Path(path).name for path in paths}), report


def ingest_url(assistant, url: str, progress=None) -> tuple[str, IngestReport]:
    import gradio as gr  # lazy: importing gradio costs ~4 s

    url = (url or "").strip()
    if not is_url(url):  # anything else would be read as a path on the server
        raise gr.Error("Give the article's full address, starting with http:// or https://.", print_exception=False)
    report = assistant.ingest([url], progress=progress)
    return _report_markdown(report, {}), report


def ingest_text(assistant, title: str, text: str) -> tuple[str, IngestReport]:
    import gradio as gr  # lazy: importing gradio costs ~4 s

    if not (text or "").strip():
        raise gr.Error("Paste the article's text first.", print_exception=False)
    title = " ".join((title or "").split())
    report = assistant.add_text(text, title, f"pasted:{title}" if title else "")
    return _report_markdown(report, {}), report


def _report_markdown(report, names: dict[str, str]) -> str:
    """What happened, one line per article, in the words of the CLI; failures also as toasts."""
    import gradio as gr  # lazy: importing gradio costs ~4 s

    def name(source: str) -> str:
        return names.get(source, source)

    lines = []
    for item in report.added:
        replaced = f" (replaces {_count(len(item['replaced']), 'earlier version')})" if item.get("replaced") else ""
        lines.append(f"**Added** {_md(item['title'])}: {_count(item['passages'], 'passage')}{replaced}")
    for item in report.skipped:
        reason = item["reason"]
        if reason.startswith("duplicate of"):
            reason = "already in the index (same text), not added again"
        lines.append(f"**Skipped** {_md(name(item['source']))}: {_md(reason)}")
        gr.Info(f"{name(item['source'])}: {reason}")
    for item in report.failed:
        problem = item["error"].removeprefix(f"{item['source']}: ")
        lines.append(f"**Could not add** {_md(name(item['source']))}: {_md(problem)}")
        gr.Warning(f"Could not add {name(item['source'])}: {problem}")
    return "\n\n".join(lines) or "Nothing to add."


def _md(text: str) -> str:
    """Untrusted text inside status Markdown: HTML-escaped, Markdown punctuation neutralised."""
    return re.sub(r"([\\`*_{}\[\]()#+!|~>-])", r"\\\1", html.escape(" ".join(str(text).split())))


def article_html(record) -> str:
    """One article's stored text, the text every citation points into."""
    parts = (record.source, f"published {record.published}" if record.published else "",
             _count(record.passages, "passage"), f"id {record.doc_id}")
    meta = " · ".join(_text(part) for part in parts if part)
    paragraphs = "".join(f"<p>{_text(p.strip())}</p>" for p in record.text.split("\n\n") if p.strip())
    return f'<div class="article-view"><h3>{_text(record.title)}</h3><div class="meta">{meta}</div>{paragraphs}</div>'


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _summary(records) -> str:
    return f"{_count(len(records), 'article')}, {_count(sum(r.passages for r in records), 'passage')} indexed."


def _table(records) -> list[list]:
    return [[r.title, r.source, r.published or "", r.passages, r.added[:16].replace("T", " ")] for r in records]


def _seed_examples(assistant) -> list[str]:
    """The example questions, when the seed article is in the index (they are about it)."""
    seeds = assistant.settings.seeds_dir
    if not seeds.is_dir():
        return []
    try:
        seed_ids = {load(path).doc_id for path, skip in iter_sources(str(seeds)) if not skip}
    except SourceError:
        return []
    return EXAMPLES if seed_ids & {r.doc_id for r in assistant.articles()} else []


# -- the app --------------------------------------------------------------------------------

def build_app(assistant):
    """The Gradio Blocks for `assistant` (not launched)."""
    import gradio as gr  # lazy: importing gradio costs ~4 s

    def index_views(selected: str | None = None, restrict: list[str] | None = None):
        """The article table and both article pickers, after the index changed."""
        records = assistant.articles()
        choices = [(r.title, r.doc_id) for r in records]
        ids = {r.doc_id for r in records}
        selected = selected if selected in ids else None
        return (
            _table(records),
            [r.doc_id for r in records],
            gr.Dropdown(choices=choices, value=selected),
            gr.Dropdown(choices=choices, value=[d for d in restrict or [] if d in ids]),
            _summary(records),
            article_html(assistant.article(selected)) if selected else "",
        )

    def respond(message: str, history: list[dict], k: int, doc_ids: list[str]):
        yield from chat(assistant, message, history, k, doc_ids)

    records = assistant.articles()
    choices = [(r.title, r.doc_id) for r in records]

    with gr.Blocks(title="News assistant", fill_height=True) as app:
        gr.Markdown("## News assistant\nAsk about the indexed articles. Every answer is quoted word "
                    "for word from them, with numbered sources you can open.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=240):
                        gr.Markdown("### Settings")
                        k = gr.Slider(1, 20, value=assistant.settings.top_k, step=1, label="Passages to search",
                                      info="How many passages are retrieved before an answer is chosen.")
                        # Any id is accepted (an API caller may know articles added after start-up).
                        restrict = gr.Dropdown(choices=choices, value=[], multiselect=True, allow_custom_value=True,
                                               label="Only these articles",
                                               info="Leave empty to search every article.", elem_id="restrict")
                        count = gr.Markdown(_summary(records), elem_id="article-count")
                    with gr.Column(scale=4):
                        chatbot = gr.Chatbot(
                            height=560, show_label=False, elem_id="chatbot", latex_delimiters=[],
                            buttons=["copy", "copy_all"], feedback_options=None, resizable=True,
                            placeholder="Ask a question about the indexed articles.",
                        )
                        gr.ChatInterface(
                            respond,
                            chatbot=chatbot,
                            textbox=gr.Textbox(placeholder="Ask about the articles…", show_label=False,
                                               elem_id="question", submit_btn=True, stop_btn=True),
                            additional_inputs=[k, restrict],
                            validator=lambda message: gr.validate(bool((message or "").strip()),
                                                                  "Type a question about the articles."),
                            examples=[[q, None, None] for q in _seed_examples(assistant)] or None,
                            api_name="chat", fill_height=True,
                        )

            with gr.Tab("Articles", id="articles"):
                doc_ids = gr.State([r.doc_id for r in records])
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=300):
                        gr.Markdown("### Add articles")
                        with gr.Tabs():
                            with gr.Tab("Files"):
                                files = gr.File(file_count="multiple", file_types=sorted(SUFFIXES),
                                                label="Drop files to add them: .txt .md .html .pdf", elem_id="upload")
                            with gr.Tab("URL"):
                                url = gr.Textbox(label="Article address", placeholder="https://…", elem_id="url")
                                add_url = gr.Button("Fetch and add", variant="primary")
                            with gr.Tab("Paste text"):
                                pasted_title = gr.Textbox(label="Title", elem_id="paste-title",
                                                          placeholder="Optional: the first line is used")
                                pasted_text = gr.Textbox(label="Article text", lines=8, elem_id="paste-text")
                                add_text = gr.Button("Add text", variant="primary")
                        status = gr.Markdown(elem_id="status")
                    with gr.Column(scale=3):
                        gr.Markdown("### Indexed articles")
                        table = gr.Dataframe(_table(records), headers=TABLE_HEADERS, interactive=False, wrap=True,
                                             datatype=["str", "str", "str", "number", "str"], elem_id="articles",
                                             column_widths=["31%", "26%", "14%", "13%", "16%"])
                        with gr.Row(equal_height=True):
                            selected = gr.Dropdown(choices=choices, label="Article (or click a row)", scale=4,
                                                   elem_id="selected")
                            remove = gr.Button("Remove from index", variant="stop", scale=1, elem_id="remove")
                        view = gr.HTML(elem_id="article-view")

        views = [table, doc_ids, selected, restrict, count, view]

        def after_change(message: str, report, selected_id, restrict_value):
            """The status and the refreshed views; the article just added (or found again) is shown."""
            shown = [item["doc_id"] for item in report.added + report.skipped if item.get("doc_id")]
            return (message, *index_views(shown[-1] if shown else selected_id, restrict_value))

        def on_files(paths, selected_id, restrict_value, progress=gr.Progress()):
            if not paths:
                return (gr.skip(),) * (len(views) + 2)
            message, report = ingest_files(assistant, paths, _progress(progress))
            return (None, *after_change(message, report, selected_id, restrict_value))

        def on_url(address, selected_id, restrict_value, progress=gr.Progress()):
            message, report = ingest_url(assistant, address, _progress(progress))
            return ("" if report.added else gr.skip(), *after_change(message, report, selected_id, restrict_value))

        def on_text(title, text, selected_id, restrict_value):
            message, report = ingest_text(assistant, title, text)
            cleared = ("", "") if report.added else (gr.skip(), gr.skip())
            return (*cleared, *after_change(message, report, selected_id, restrict_value))

        def on_remove(doc_id, restrict_value):
            try:
                record = assistant.remove(doc_id)
            except AssistantError as error:  # removed meanwhile, e.g. in another window
                gr.Warning(str(error))
                return (gr.skip(), *index_views(None, restrict_value))
            return (f"Removed **{_md(record.title)}**.", *index_views(None, restrict_value))

        # Validators run before a handler and mark the input at fault, instead of an error
        # overlay on every output of the handler.
        def valid(count: int) -> list:
            return [gr.validate(True, "")] * count

        def check_url(address, *others):
            message = "Give the article's full address, starting with http:// or https://."
            return [gr.validate(is_url((address or "").strip()), message), *valid(len(others))]

        def check_text(title, text, *others):
            return [*valid(1), gr.validate(bool((text or "").strip()), "Paste the article's text first."),
                    *valid(len(others))]

        def check_selected(doc_id, *others):
            message = "Choose the article to remove: pick it here or click its row."
            return [gr.validate(bool(doc_id), message), *valid(len(others))]

        def on_select(ids, event: gr.SelectData):
            row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
            return ids[row] if 0 <= row < len(ids) else gr.skip()

        def on_choose(doc_id):
            if not doc_id:
                return ""
            try:
                return article_html(assistant.article(doc_id))
            except AssistantError as error:  # removed meanwhile, e.g. in another window
                gr.Warning(str(error))
                return ""

        files.upload(on_files, [files, selected, restrict], [files, status, *views], api_visibility="private")
        for trigger in (add_url.click, url.submit):
            trigger(on_url, [url, selected, restrict], [url, status, *views], validator=check_url,
                    api_visibility="private")
        add_text.click(on_text, [pasted_title, pasted_text, selected, restrict],
                       [pasted_title, pasted_text, status, *views], validator=check_text, api_visibility="private")
        remove.click(on_remove, [selected, restrict], [status, *views], validator=check_selected,
                     api_visibility="private")
        table.select(on_select, [doc_ids], [selected], api_visibility="private")
        selected.change(on_choose, [selected], [view], api_visibility="private")
        app.load(lambda: index_views(), None, views, api_visibility="private")

        def ask(question: str, k: int = assistant.settings.top_k, doc_ids: list[str] | None = None,
                history: list[dict] | None = None) -> dict:
            """Answer like `assistant ask --json`: answer, answered, search_query, citations, passages.

            k is the number of passages to search, doc_ids limits the search to those articles, and
            history holds the earlier turns as [{"role": "user" | "assistant", "content": text}].
            """
            return ask_json(assistant, question, k, doc_ids, history)

        gr.api(ask, api_name="ask")
    return app


def _progress(progress):
    """Assistant.ingest's progress callback, drawn on a gr.Progress bar."""
    def report(done: int, total: int, source: str) -> None:
        progress((done, total), desc=f"Adding {Path(source).name}" if source else "Indexing", unit="articles")
    return report


def launch(app, host: str = "127.0.0.1", port: int = 7860, max_file_size: int | None = None) -> None:
    """Start serving `app` in a background thread; `app.block_thread()` waits on it."""
    import gradio as gr  # lazy: importing gradio costs ~4 s

    app.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, show_error=False,
               css=CSS, theme=gr.themes.Soft(), max_file_size=max_file_size)
