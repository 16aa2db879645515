"""Errors a user can fix, each saying what to do.

    AssistantError              anything the user can act on; the CLI prints it in one line
    ├── SourceError             an article source cannot be read (missing, empty, binary, too big, ...)
    ├── ArticleNotFound         an unknown doc id
    └── IndexMismatch           the index was built with another embedding model

Programmer mistakes raise ValueError / TypeError instead.
"""


class AssistantError(Exception):
    """A problem the user can fix; the message says how."""


class SourceError(AssistantError):
    """An article source that cannot be loaded."""

    def __init__(self, source: str, problem: str):
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class ArticleNotFound(AssistantError):
    def __init__(self, doc_id: str):
        self.doc_id = doc_id
        super().__init__(
            f"No article with id {doc_id!r} in the index. Run `assistant list` to see the ids."
        )


class IndexMismatch(AssistantError):
    def __init__(self, index_dir, built_with: str, using: str):
        super().__init__(
            f"The index at {index_dir} was built with the embedding model {built_with!r} but this "
            f"run uses {using!r}. Run `assistant reindex --index-dir {index_dir}` to rebuild it "
            f"with the current model."
        )
