"""The `assistant` command: build an index of news articles and ask it questions."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from .errors import AssistantError


def _settings(index_dir: Path | None, no_seed: bool):
    from .settings import Settings

    overrides = {}
    if index_dir is not None:
        overrides["index_dir"] = index_dir
    if no_seed:
        overrides["seed"] = False
    return Settings(**overrides)


def _assistant(settings):
    from .api import Assistant
    from .embeddings import offline_environment

    offline_environment()
    return Assistant(settings=settings)


def _catalog_only(settings):
    """The index without Chroma or the model, for `list` and `show` (instant); seeds a new index."""
    from .store import Store

    store = Store(settings.index_dir)
    if settings.seed and store.is_new and settings.seeds_dir.is_dir():
        return _assistant(settings).store
    return store


def index_options(command):
    """--index-dir and --no-seed, taken after the command name."""

    @click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Index folder [env ASSISTANT_INDEX_DIR; default: index/ in the project].")
    @click.option("--no-seed", is_flag=True, help="Don't ingest seeds/ into a never-used index.")
    @functools.wraps(command)
    def wrapper(*args, index_dir, no_seed, **kwargs):
        try:
            return command(*args, settings=_settings(index_dir, no_seed), **kwargs)
        except AssistantError as error:
            raise click.ClickException(str(error)) from None

    return wrapper


def _echo_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=None))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="assistant")
def main():
    """Ask questions about news articles; answers are verbatim quotes with checked citations.

    \b
    assistant ingest article.html https://example.com/news folder/
    assistant ask "Where did the defense ministers meet?"
    assistant serve
    """


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@index_options
def ingest(sources, as_json, settings):
    """Add articles: .txt .md .html .pdf files, folders (recursively) and http(s) URLs.

    The same article again is skipped as a duplicate; a changed article at the same source
    replaces the old version. In folders, README/LICENSE files are skipped (name one to add it).
    Exit 1 if any source failed; the good ones are indexed either way. --json prints
    {"added": [{doc_id, title, source, passages[, replaced]}], "skipped": [{source, reason[, doc_id]}],
    "failed": [{source, error}]}.

    \b
    Example: assistant ingest seeds/ ~/news/ https://example.com/story.html
    """
    from tqdm import tqdm

    assistant = _assistant(settings)
    bar = None

    def progress(done, total, source):
        nonlocal bar
        if total < 2 or as_json:
            return
        if bar is None:
            bar = tqdm(total=total, unit="article", file=sys.stderr, leave=False, disable=None)  # off when not a terminal
        bar.n = done
        bar.set_postfix_str(Path(source).name[-30:] if source else "", refresh=True)

    report = assistant.ingest(sources, progress=progress)
    if bar is not None:
        bar.close()
    if as_json:
        _echo_json(report.to_json())
    else:
        for item in report.added:
            replaced = f" (replaces {', '.join(item['replaced'])})" if item.get("replaced") else ""
            click.echo(f"added    {item['doc_id']}  {item['passages']:>4} passages  {item['title']}{replaced}")
        for item in report.skipped:
            click.echo(f"skipped  {item['source']}: {item['reason']}")
        for item in report.failed:
            click.echo(f"failed   {item['error']}", err=True)
        click.echo(f"{len(report.added)} added, {len(report.skipped)} skipped, {len(report.failed)} failed")
    if report.failed:
        sys.exit(1)


@main.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the articles as JSON.")
@index_options
def list_(as_json, settings):
    """List the indexed articles: id, title, source, passages, when added."""
    records = _catalog_only(settings).catalog.articles()
    if as_json:
        _echo_json([r.summary() for r in records])
        return
    if not records:
        click.echo("The index is empty. Add articles with `assistant ingest PATH_OR_URL`.")
        return
    for r in records:
        click.echo(f"{r.doc_id}  {r.passages:>4}  {r.added[:19]}  {r.published or '-':<10}  {r.title}\n"
                   f"{'':18}{r.source}")
    click.echo(f"{len(records)} articles, {sum(r.passages for r in records)} passages")


@main.command()
@click.argument("doc_id")
@click.option("--json", "as_json", is_flag=True, help="Print the article as JSON.")
@index_options
def show(doc_id, as_json, settings):
    """Show one article's metadata and its stored text (the text citations point into)."""
    record = _catalog_only(settings).catalog.article(doc_id)
    if as_json:
        _echo_json({"doc_id": record.doc_id, "title": record.title, "source": record.source,
                    "published": record.published, "text": record.text})
        return
    click.echo(f"{record.title}\n{record.source}\npublished {record.published or '-'}, added {record.added}, "
               f"{record.passages} passages, id {record.doc_id}\n")
    click.echo(record.text)


@main.command()
@click.argument("doc_ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the removed articles as JSON.")
@index_options
def remove(doc_ids, as_json, settings):
    """Remove articles by id (see `assistant list`)."""
    assistant = _assistant(settings)
    for doc_id in doc_ids:  # check every id before removing any
        assistant.article(doc_id)
    removed = [assistant.remove(doc_id).summary() for doc_id in doc_ids]
    if as_json:
        _echo_json({"removed": removed})
    else:
        for r in removed:
            click.echo(f"removed  {r['doc_id']}  {r['title']}")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@index_options
def reindex(as_json, settings):
    """Re-embed every article with the current model (after a model change)."""
    assistant = _assistant(settings.model_copy(update={"seed": False}))
    count = assistant.reindex()
    if as_json:
        _echo_json({"reindexed": count, "model": assistant.embeddings.name})
    else:
        click.echo(f"reindexed {count} articles with {assistant.embeddings.name}")


def _print_answer(result) -> None:
    if result.search_query != result.question:
        click.echo(f"(searched for: {result.search_query})\n")
    click.echo(result.answer)
    if result.citations:
        click.echo("")
    for c in result.citations:
        click.echo(f"[{c.n}] \"{c.quote}\"\n    {c.title} — {c.source} (characters {c.start}-{c.end}, {c.doc_id})")


@main.command()
@click.argument("question", required=False)
@click.option("--jsonl", "jsonl", type=click.File("r"), default=None,
              help="Answer many questions: one {\"question\", \"history\", \"id\"} object a line (- for stdin).")
@click.option("-k", "--top-k", type=click.IntRange(1, 50), default=None, help="Passages to retrieve [5].")
@click.option("--doc", "doc_ids", multiple=True, help="Only search this article (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
@index_options
def ask(question, jsonl, top_k, doc_ids, as_json, settings):
    """Ask a question; the answer quotes the articles with numbered citations.

    \b
    Example: assistant ask "How long did the meeting last?"
    """
    if (question is None) == (jsonl is None):
        raise click.UsageError("Give a QUESTION or --jsonl FILE (one of them).")
    assistant = _assistant(settings)
    for doc_id in doc_ids:
        assistant.article(doc_id)
    if question is not None:
        result = assistant.ask(question, k=top_k, doc_ids=list(doc_ids) or None)
        _echo_json(result.to_json()) if as_json else _print_answer(result)
        return
    for number, line in enumerate(jsonl, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                raise ValueError("needs a \"question\" string")
        except ValueError as error:
            raise click.ClickException(f"line {number} of {jsonl.name}: {error}; one JSON object a line") from None
        result = assistant.ask(item["question"], item.get("history") or [], k=top_k, doc_ids=list(doc_ids) or None)
        data = result.to_json()
        if "id" in item:
            data = {"id": item["id"], **data}
        _echo_json(data)


@main.command(name="eval")
@click.argument("questions", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-k", "--top-k", type=click.IntRange(1, 50), default=5, help="Passages per question [5].")
@click.option("--json", "as_json", is_flag=True)
@index_options
def eval_(questions, top_k, as_json, settings):
    """Score retrieval and answers on a question file (format of tests/data/seed_qa.jsonl).

    \b
    Example: assistant eval tests/data/seed_qa.jsonl
    """
    from .evaluate import evaluate, read_questions

    items = read_questions(questions)
    report = evaluate(_assistant(settings), items, k=top_k)
    if as_json:
        _echo_json(report)
        return
    for row in report["questions"]:
        marks = " ".join(f"{key}={row[key]:.2f}" for key in ("recall", "mrr", "correct", "supported") if key in row)
        click.echo(f"{row['id'] or '-':<6} answered={str(row['answered']):<5} {marks}  {row['question']}")
    click.echo("")
    for key, value in report["summary"].items():
        click.echo(f"{key:<22} {value}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets anyone on the network add and remove articles.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="Port to listen on.")
@index_options
def serve(host, port, settings):
    """Open the chat in a browser: ask, read the quoted sources, add and remove articles.

    \b
    Example: assistant serve --port 7860   (then open http://127.0.0.1:7860)
    """
    import time

    from . import ui

    started = time.monotonic()
    assistant = _assistant(settings)
    assistant.warm()
    app = ui.build_app(assistant)
    try:
        ui.launch(app, host, port, max_file_size=settings.max_bytes)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port} ({error}); pass another --port") from None
    records = assistant.articles()
    click.echo(f"ready on http://{host}:{port} ({len(records)} articles, index {settings.index_dir}, "
               f"{time.monotonic() - started:.1f} s); Ctrl+C stops", err=True)
    app.block_thread()


if __name__ == "__main__":
    main()
