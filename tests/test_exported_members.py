"""The public API: `assistant.__all__` is exactly these names, and each one resolves."""

import importlib
import subprocess
import sys

import pytest

import assistant

PUBLIC = [
    "Answer", "ArticleNotFound", "Article", "Assistant", "AssistantError", "Citation",
    "IndexMismatch", "IngestReport", "SourceError",
]


def test_exported_members_are_the_public_names():
    assert sorted(assistant.__all__) == sorted(PUBLIC)
    assert sorted(dir(assistant)) == sorted(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_exported_member_resolves_to_its_module(name):
    member = getattr(assistant, name)
    assert member.__name__ == name
    assert member.__module__.startswith("assistant.")
    assert getattr(importlib.import_module(member.__module__), name) is member


def test_exported_members_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        assistant.Nope  # noqa: B018


def test_exported_errors_share_one_family():
    for name in ("ArticleNotFound", "IndexMismatch", "SourceError"):
        assert issubclass(getattr(assistant, name), assistant.AssistantError)


def test_import_assistant_is_light():
    code = "import sys, assistant; print(sorted(m for m in ('torch', 'sentence_transformers', 'gradio', 'chromadb') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
