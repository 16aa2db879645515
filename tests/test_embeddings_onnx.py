"""The ONNX Runtime query path gives the sentence-transformers vectors (same weights, same pooling)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.embeddings import MiniLM, onnx_file
from assistant.passages import make_passages, split_sentences

CURRENT_EVENTS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "current_events"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED_QA = Path(__file__).resolve().parent / "data" / "seed_qa.jsonl"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A MiniLM whose ONNX export lives in a fresh folder (exported by loading the full model)."""
    pytest.importorskip("onnx", reason="torch.onnx.export needs the `onnx` package")
    minilm = MiniLM(onnx_dir=tmp_path_factory.mktemp("onnx"))
    minilm.model
    return minilm


def _texts() -> list[str]:
    """Texts of every shape from the project itself (../shared adds news lines when it is there)."""
    texts = []
    for path in sorted(SEEDS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        sentences = split_sentences(text)
        texts += [s.text for s in sentences] + [p.text for p in make_passages(text, sentences)]
    for line in SEED_QA.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        texts += [item["question"], *item.get("answers", []), *item.get("evidence", [])]
    for path in sorted(CURRENT_EVENTS.glob("*.txt"))[:8]:
        texts += [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    texts += [
        "", "a", "?!", "Where did the defense ministers meet?", "国防部长在哪里会面？",
        "word " * 400,  # past the 256-token limit: both truncate the same way
        "Dong Jun   and\tLloyd Austin\n met in Singapore.",
    ]
    return texts


def test_embeddings_onnx_export_written_atomically(exported):
    path = onnx_file(exported.onnx_dir)
    assert path.is_file() and path.stat().st_size > 10_000_000
    assert [p.name for p in exported.onnx_dir.iterdir()] == [path.name]  # no partial file left behind


def test_embeddings_onnx_matches_sentence_transformers(exported):
    texts = [" ".join(t.split()) for t in _texts()]
    assert len(texts) > 100
    reference = exported.model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    fast = np.concatenate([exported.onnx.encode(texts[i:i + 32]) for i in range(0, len(texts), 32)])
    single = np.stack([exported.onnx.encode([t])[0] for t in texts[:40]])
    assert fast.shape == reference.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert (fast * reference).sum(axis=1).min() >= 1 - 1e-4
    assert (single * reference[:40]).sum(axis=1).min() >= 1 - 1e-4


@pytest.mark.parametrize("count, path", [(1, "onnx"), (32, "onnx"), (33, "sentence-transformers")])
def test_embeddings_encode_routes_by_batch_size(exported, count, path):
    texts = [f"question number {i}" for i in range(count)]
    before = exported.texts_encoded
    vectors = exported.encode(texts)
    reference = exported.model.encode(texts, normalize_embeddings=True)
    assert vectors.dtype == np.float32 and vectors.shape == (count, 384)
    assert (vectors * reference).sum(axis=1).min() >= 1 - 1e-4
    assert exported.texts_encoded == before + count


def test_embeddings_query_never_imports_sentence_transformers(exported):
    """With the export present, a fresh process encodes a question without torch (the cold-start path)."""
    code = (
        "import sys; from assistant.embeddings import MiniLM; "
        f"v = MiniLM(onnx_dir={str(exported.onnx_dir)!r}).embed_query('Where did they meet?'); "
        "print(len(v), 'sentence_transformers' in sys.modules, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["384", "False", "False"]


def test_embeddings_onnx_off_uses_sentence_transformers(tmp_path):
    minilm = MiniLM(onnx_dir=False)
    assert minilm.onnx is None
    assert minilm.encode(["one question"]).shape == (1, 384)
    assert not list(tmp_path.iterdir())
