"""The FAQ sentence encoder: an ONNX model in the active voice bundle, run through the node's model runtime.

A voice bundle that carries model ``voice_encoder`` (inputs ``input_ids``, ``attention_mask``; output an
L2-normalised ``sentence_embedding``) and ``voice_tokenizer.json`` (a Hugging Face ``tokenizers`` file) turns
FAQ matching into a cosine between the question and each FAQ entry; without one, the keyword matcher
answers. Embeddings of the FAQ questions are cached per bundle and question list: the last ``CACHED_LISTS``
lists, so that a node of several stores (one FAQ each) does not re-embed a store's questions on every turn.
"""

from __future__ import annotations

import collections
import threading

import numpy as np

MODEL = "voice_encoder"
TOKENIZER = "voice_tokenizer.json"
MAX_TOKENS = 64
CACHED_LISTS = 64


class SentenceEncoder:
    """Tokenise with the bundle's tokenizer, embed with the bundle's model, score by cosine."""

    def __init__(self, model, tokenizer_path):
        from tokenizers import Tokenizer

        self.model = model
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self._cache: collections.OrderedDict[tuple, np.ndarray] = collections.OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised embeddings, one row per text."""
        batch = self.tokenizer.encode_batch([t.lower() for t in texts])
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        out = next(iter(self.model.run({"input_ids": ids, "attention_mask": mask}).values()))
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    def scores(self, text: str, questions: list[str]) -> list[float]:
        """Cosine of ``text`` to each question."""
        key = tuple(questions)
        with self._lock:
            known = self._cache.get(key)
            if known is not None:
                self._cache.move_to_end(key)
        if known is None:
            known = self.embed(list(questions))
            with self._lock:
                self._cache[key] = known
                while len(self._cache) > CACHED_LISTS:
                    self._cache.popitem(last=False)
        return [float(s) for s in known @ self.embed([text])[0]]


class EncoderSource:
    """The encoder of the active voice bundle (rebuilt when the bundle changes), or ``None`` without one."""

    def __init__(self, node):
        self.node, self._current = node, (None, None)

    def __call__(self) -> SentenceEncoder | None:
        bundle = self.node.bundle_for(MODEL)
        if bundle is None or not (bundle.directory / TOKENIZER).is_file():
            return None
        key = (bundle.name, bundle.version, id(bundle))
        if self._current[0] != key:
            self._current = (key, SentenceEncoder(bundle.model(MODEL), bundle.directory / TOKENIZER))
        return self._current[1]
