"""Fixtures that build on each other: embeddings -> seeded index -> assistant -> CLI runner.

Everything is real: the packaged MiniLM model, Chroma on disk, the seed article.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.embeddings import MiniLM, offline_environment

PROJECT = Path(__file__).resolve().parent.parent
SEEDS = PROJECT / "seeds"
SEED_QA = Path(__file__).resolve().parent / "data" / "seed_qa.jsonl"
SHARED = PROJECT.parent / "shared"

offline_environment()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No ASSISTANT_* setting from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def embeddings():
    return MiniLM()


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory, embeddings):
    """An index holding only the seed article, built once per session. Don't write to it."""
    from assistant import Assistant

    index_dir = tmp_path_factory.mktemp("seeded-index")
    Assistant(index_dir, embeddings=embeddings)  # a never-used index ingests seeds/
    return index_dir


@pytest.fixture(scope="session")
def seeded(seeded_dir, embeddings):
    """A read-only Assistant on the seed article."""
    from assistant import Assistant

    return Assistant(seeded_dir, embeddings=embeddings)


@pytest.fixture
def make_assistant(tmp_path, embeddings):
    """A fresh Assistant in its own temporary index (empty unless seed=True)."""
    from assistant import Assistant

    def make(seed: bool = False, index_dir: Path | None = None):
        return Assistant(index_dir or tmp_path / "index", embeddings=embeddings, seed=seed)

    return make


@pytest.fixture(scope="session")
def seed_questions():
    return [json.loads(line) for line in SEED_QA.read_text().splitlines() if line.strip()]


@pytest.fixture
def cli():
    """Run `assistant ...` in-process; returns click's Result (exit_code, output, stderr)."""
    from assistant.cli import main

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)

    return run
