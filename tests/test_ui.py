"""The Gradio app without a browser: build_app, the chat turn, the Articles handlers, `serve`."""

import html
import json
import re
import socket
import subprocess
import sys

import gradio as gr
import pytest

from assistant import ui

MEETING = "How long did the meeting between Austin and Dong Jun last?"
UNANSWERABLE = "Who won the 2024 US presidential election?"


def last(turn):
    """The messages of a chat turn as finally shown."""
    return list(turn)[-1]


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def marks(markup: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<mark>(.*?)</mark>", markup)]


def test_build_app_constructs_without_launching(seeded):
    app = ui.build_app(seeded)
    assert isinstance(app, gr.Blocks)
    assert not app.is_running
    api_names = {fn.api_name for fn in app.fns.values() if fn.api_visibility == "public"}
    assert {"ask", "chat"} <= api_names


@pytest.mark.parametrize("question", [
    MEETING,
    "Where was the meeting held?",
    "Who is the spokesman for the Chinese Ministry of National Defense mentioned in the article?",
])
def test_chat_matches_python_api(seeded, question):
    expected = seeded.ask(question)
    messages = last(ui.chat(seeded, question, []))
    assert expected.answered and expected.citations
    answer, sources = messages
    assert text_of(answer.content) == expected.answer
    assert sources.metadata["title"] == f"Sources ({len(expected.citations)})"
    assert marks(sources.content) == [c.quote for c in expected.citations]
    for c in expected.citations:
        assert html.escape(c.title) in sources.content and html.escape(c.source) in sources.content


def test_chat_streams_the_answer_in_steps(seeded):
    steps = list(ui.chat(seeded, MEETING, []))
    assert len(steps) > 2
    shown = [len(text_of(messages[0].content)) for messages in steps]
    assert shown == sorted(shown) and shown[0] < shown[-1]
    assert all(len(messages) == 1 for messages in steps[:-1])  # Sources come with the full answer


def test_chat_passes_history_and_shows_the_rewritten_query(seeded):
    first = last(ui.chat(seeded, MEETING, []))
    # The history as the Chatbot hands it over: content parts, and the Sources block.
    history = [{"role": "user", "content": [{"type": "text", "text": MEETING}], "metadata": None}]
    history += [{"role": "assistant", "content": [{"type": "text", "text": m.content}], "metadata": m.metadata}
                for m in first]
    follow_up = "And who spoke for the Chinese side afterwards?"
    expected = seeded.ask(follow_up, history=[{"role": "user", "content": MEETING},
                                              {"role": "assistant", "content": seeded.ask(MEETING).answer}])
    assert expected.search_query != follow_up
    answer = last(ui.chat(seeded, follow_up, history))[0]
    assert "Searched for" in answer.content and html.escape(expected.search_query) in answer.content
    assert text_of(answer.content).endswith(expected.answer)


def test_plain_history_keeps_the_text_without_sources(seeded):
    first = last(ui.chat(seeded, MEETING, []))
    history = [{"role": "user", "content": MEETING}] + [
        {"role": "assistant", "content": m.content, "metadata": m.metadata} for m in first]
    assert ui.plain_history(history) == [{"role": "user", "content": MEETING},
                                         {"role": "assistant", "content": seeded.ask(MEETING).answer}]


def test_chat_abstention_looks_different(seeded):
    expected = seeded.ask(UNANSWERABLE)
    assert not expected.answered
    messages = last(ui.chat(seeded, UNANSWERABLE, []))
    assert len(messages) == 1  # no Sources block
    assert 'class="abstain"' in messages[0].content and "Not in the articles." in messages[0].content
    assert expected.answer in text_of(messages[0].content)


@pytest.mark.parametrize("question", ["", "   "])
def test_chat_empty_question_is_a_message_in_the_chat(seeded, question):
    with pytest.warns(UserWarning, match="question is empty"):  # the toast, outside a request
        messages = last(ui.chat(seeded, question, []))
    assert len(messages) == 1 and 'class="error"' in messages[0].content
    assert "The question is empty: type a question about the indexed articles." in text_of(messages[0].content)


def test_chat_restricted_to_other_articles_abstains(make_assistant):
    assistant = make_assistant(seed=True)
    report = assistant.add_text("The ferry to Lundholm now leaves at seven every morning. "
                                "Tickets cost twelve crowns.", "Ferry timetable")
    ferry = report.added[0]["doc_id"]
    messages = last(ui.chat(assistant, MEETING, [], 5, [ferry]))
    assert 'class="abstain"' in messages[0].content


def test_sources_escape_article_text(make_assistant):
    assistant = make_assistant()
    assistant.add_text("The mayor opened the <b>new</b> bridge on Monday. "
                       "The bridge over the Vell river cost <script>alert(1)</script> four million euros. "
                       "It replaces a ferry.", "Bridge <i>opens</i>")
    answer, sources = last(ui.chat(assistant, "How much did the bridge over the Vell river cost?", []))
    for markup in (answer.content, sources.content):
        assert "<script>" not in markup and "<b>" not in markup and "<i>" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.content
    assert "Bridge &lt;i&gt;opens&lt;/i&gt;" in sources.content
    assert "The mayor opened the &lt;b&gt;new&lt;/b&gt; bridge on Monday. <mark>" in sources.content


PARAGRAPH = ("One. Two is here. Three comes next. The quote is this sentence. Five follows. "
             "Six is after. Seven is far.\nAnother paragraph.")


@pytest.mark.parametrize("quote, before, after", [
    ("The quote is this sentence.", "… Two is here. Three comes next. ", " Five follows. Six is after. …"),
    ("One.", "", " Two is here. Three comes next. …"),
    ("Seven is far.", "… Five follows. Six is after. ", ""),
    ("Another paragraph.", "", ""),
])
def test_context_is_two_sentences_either_side_within_the_paragraph(quote, before, after):
    start = PARAGRAPH.index(quote)
    assert ui.context(PARAGRAPH, start, start + len(quote)) == (before, after)


def test_context_caps_run_on_text():
    text = " ".join(f"word{i}" for i in range(2000))
    start = text.index("word1000")
    before, after = ui.context(text, start, start + len("word1000"))
    assert before.startswith("… ") and len(before) <= ui.CONTEXT_CHARS + 2
    assert after.endswith(" …") and len(after) <= ui.CONTEXT_CHARS + 2


def upload(tmp_path, name: str, data: bytes) -> str:
    """A file where Gradio puts uploads: a hashed folder, the original name."""
    folder = tmp_path / "gradio" / "3f2a9c0d1e"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return str(path)


def test_ingest_files_records_the_original_file_name(make_assistant, tmp_path):
    assistant = make_assistant()
    path = upload(tmp_path, "harbour.txt", b"The harbour wall was rebuilt in 1998 after a storm.\n")
    message, report = ui.ingest_files(assistant, [path])
    assert [a["source"] for a in report.added] == ["upload:harbour.txt"]
    assert [r.source for r in assistant.articles()] == ["upload:harbour.txt"]
    assert "**Added**" in message and "1 passage" in message and str(tmp_path) not in message


@pytest.mark.parametrize("name, data, problem", [
    ("empty.txt", b"", "file is empty; nothing to index"),
    ("binary.txt", bytes(range(256)) * 8, "looks like a binary file"),
    ("notes.docx", b"PK\x03\x04", "unsupported file type '.docx'"),
    ("broken.pdf", b"%PDF-1.4 truncated", "cannot read this PDF"),
], ids=["empty", "binary", "docx", "broken-pdf"])
def test_ingest_files_bad_file_is_a_readable_message(make_assistant, tmp_path, name, data, problem):
    assistant = make_assistant()
    # Outside a request gr.Warning (the toast) becomes a Python warning.
    with pytest.warns(UserWarning, match=f"Could not add {re.escape(name)}: {re.escape(problem)}"):
        message, report = ui.ingest_files(assistant, [upload(tmp_path, name, data)])
    assert not report.added and report.failed
    assert f"**Could not add** {ui._md(name)}:" in message and ui._md(problem) in message
    assert str(tmp_path) not in message and "Traceback" not in message


def test_ingest_files_duplicate_is_skipped(make_assistant, tmp_path):
    assistant = make_assistant()
    data = b"The harbour wall was rebuilt in 1998 after a storm.\n"
    ui.ingest_files(assistant, [upload(tmp_path, "harbour.txt", data)])
    message, report = ui.ingest_files(assistant, [upload(tmp_path, "copy.txt", data)])
    assert not report.added and "already in the index" in message
    assert len(assistant.articles()) == 1


@pytest.mark.parametrize("address", ["", "/etc/passwd", "file:///etc/passwd", "example.com/story"])
def test_ingest_url_needs_an_http_address(make_assistant, address):
    with pytest.raises(gr.Error, match="starting with http:// or https://"):
        ui.ingest_url(make_assistant(), address)


def test_ingest_url_unreachable_is_a_readable_message(make_assistant):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.warns(UserWarning, match="could not fetch"):
        message, report = ui.ingest_url(make_assistant(), f"http://127.0.0.1:{port}/story.html")
    assert not report.added and "**Could not add**" in message and "could not fetch" in message


def test_ingest_text_adds_and_skips_a_duplicate(make_assistant):
    assistant = make_assistant()
    text = "The night train to Varna returns in June. It was cut in 2020."
    message, report = ui.ingest_text(assistant, "Night train", text)
    assert "**Added** Night train" in message
    message, report = ui.ingest_text(assistant, "Night train again", text)
    assert "already in the index" in message and len(assistant.articles()) == 1
    with pytest.raises(gr.Error, match="Paste the article"):
        ui.ingest_text(assistant, "Title", "  ")


def test_article_html_escapes_the_stored_text(make_assistant):
    assistant = make_assistant()
    report = assistant.add_text("A <img src=x onerror=alert(1)> tag.\n\nSecond paragraph.", "T <b>1</b>")
    markup = ui.article_html(assistant.article(report.added[0]["doc_id"]))
    assert "<img" not in markup and "&lt;img src=x onerror=alert(1)&gt;" in markup
    assert "<h3>T &lt;b&gt;1&lt;/b&gt;</h3>" in markup and markup.count("<p>") == 2


@pytest.mark.parametrize("question", [MEETING, UNANSWERABLE])
def test_ask_json_matches_the_cli(seeded, seeded_dir, cli, question):
    result = cli("ask", question, "--json", "--index-dir", seeded_dir)
    assert result.exit_code == 0
    assert ui.ask_json(seeded, question) == json.loads(result.output)


def test_cli_help_and_list_do_not_import_gradio(tmp_path):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from assistant.cli import main\n"
        f"assert CliRunner().invoke(main, ['--help']).exit_code == 0\n"
        f"assert CliRunner().invoke(main, ['serve', '--help']).exit_code == 0\n"
        f"assert CliRunner().invoke(main, ['list', '--no-seed', '--index-dir', {str(tmp_path)!r}]).exit_code == 0\n"
        "print(sorted(m for m in ('gradio', 'sentence_transformers', 'chromadb') if m in sys.modules))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_serve_help_shows_the_options(cli):
    result = cli("serve", "--help")
    assert result.exit_code == 0
    for option in ("--host", "--port", "--index-dir", "--no-seed", "127.0.0.1", "7860"):
        assert option in result.output


def test_serve_port_in_use_is_a_one_line_error(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "assistant.cli", "serve", "--port", str(port), "--no-seed",
             "--index-dir", str(tmp_path / "index")],
            capture_output=True, text=True, timeout=300,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "pass another --port" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("question", ui.EXAMPLES)
def test_example_questions_are_answered_from_the_seed(seeded, question):
    assert ui._seed_examples(seeded) == ui.EXAMPLES
    assert seeded.ask(question).answered


def test_example_questions_hidden_without_the_seed(make_assistant):
    assert ui._seed_examples(make_assistant()) == []


@pytest.mark.parametrize("source, expected", [
    ('https://example.com/a?b=1&c="x"', '<a href="https://example.com/a?b=1&amp;c=&quot;x&quot;" target="_blank"'),
    ("javascript:alert(1)", "javascript:alert(1)"),
    ("upload:<b>x</b>.txt", "upload:&lt;b&gt;x&lt;/b&gt;.txt"),
])
def test_source_link_links_only_web_addresses(source, expected):
    markup = ui._source_link(source)
    assert markup.startswith(expected)
    assert ("<a " in markup) == source.startswith("https://")
