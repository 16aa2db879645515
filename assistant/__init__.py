"""Ask questions about news articles; answers are verbatim quotes with verified citations."""

import importlib

# Public names, imported on first use so `assistant --help` and `assistant list` stay instant.
_EXPORTS = {
    "Answer": "answer", "Citation": "answer",
    "Assistant": "api", "IngestReport": "api",
    "Article": "articles",
    "AssistantError": "errors", "ArticleNotFound": "errors", "IndexMismatch": "errors", "SourceError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")


def __dir__():
    return __all__
