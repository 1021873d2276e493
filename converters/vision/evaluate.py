"""Evaluation: recall@k by SKU, export agreement, model size and latency.

Retrieval protocol (the node's): the catalog is the embedding of every training photo, the queries
are the validation photos; each query ranks SKUs by the cosine of the mean vector of their catalog
photos (``by="mean"``). recall@k is the share of queries whose true SKU is among the first k SKUs.
``by="photo"`` ranks SKUs by their nearest photo instead (1-NN), reported beside it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

Embed = Callable[[np.ndarray], np.ndarray]  # normalised float32 NCHW batch -> [N, D]


def embed_images(embed: Embed, images: np.ndarray, size: int | None, batch: int = 32, desc: str = "embed") -> np.ndarray:
    """Embed uint8 images: squares cropped and resized to ``size``, or (``size=None``) serving crops as they are."""
    from tqdm import tqdm

    from .data import to_tensor

    out = []
    for i in tqdm(range(0, len(images), batch), desc=desc, leave=False):
        out.append(embed(to_tensor(images[i:i + batch], size).numpy()))
    return np.concatenate(out).astype(np.float32)


def input_size(path: str | Path) -> int:
    """The square input side an exported model was built for (its serving size)."""
    from edge.runtime import load_model

    return int(load_model("probe", path).inputs[0].shape[-1])


def torch_embedder(model) -> Embed:
    """Wrap a torch module as an ``Embed`` function (eval mode, no grad)."""
    import torch

    model.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()
    return run


def onnx_embedder(path: str | Path, threads: int = 2) -> Embed:
    """Wrap an ONNX file (input ``image``, output ``embedding``) as an ``Embed`` function."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(["embedding"], {"image": x.astype(np.float32)})[0]


def tflite_embedder(path: str | Path, threads: int = 2) -> Embed:
    """Wrap a TFLite file (static batch 1) as an ``Embed`` function that loops over the batch."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - fallback runtime
        from tflite_runtime.interpreter import Interpreter
    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]

    def one(x: np.ndarray) -> np.ndarray:
        interp.set_tensor(inp, np.ascontiguousarray(x[None], dtype=np.float32))
        interp.invoke()
        return interp.get_tensor(out)[0].copy()
    return lambda batch: np.stack([one(x) for x in batch])


def recall_at_k(catalog: np.ndarray, catalog_labels: np.ndarray, queries: np.ndarray,
                query_labels: np.ndarray, ks=(1, 5), by: str = "mean") -> dict[str, float]:
    """recall@k by SKU; SKUs ranked by their mean photo vector (``mean``) or their nearest photo (``photo``)."""
    if by not in ("mean", "photo"):
        raise ValueError(f"unknown ranking {by!r}: use 'mean' or 'photo'")
    unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)  # noqa: E731
    catalog, queries = unit(catalog), unit(queries)
    n_cls = int(max(catalog_labels.max(), query_labels.max())) + 1
    scores = np.full((len(queries), n_cls), -np.inf, dtype=np.float32)
    for c in np.unique(catalog_labels):
        members = catalog[catalog_labels == c]
        if by == "mean":
            scores[:, c] = queries @ unit(members.mean(axis=0, keepdims=True))[0]
        else:
            scores[:, c] = (queries @ members.T).max(axis=1)
    order = np.argsort(-scores, axis=1)
    return {f"recall@{k}": round(float((order[:, :k] == query_labels[:, None]).any(axis=1).mean()), 4)
            for k in ks}


def retrieval_metrics(embed: Embed, train_imgs, train_labels, val_imgs, val_labels, size: int,
                      name: str = "") -> dict[str, float]:
    """recall@1/@5 of one model on the catalog (train) and queries (val), by SKU mean and by nearest photo."""
    cat = embed_images(embed, train_imgs, size, desc=f"{name} catalog")
    qry = embed_images(embed, val_imgs, size, desc=f"{name} queries")
    by_photo = recall_at_k(cat, train_labels, qry, val_labels, by="photo")
    return {**recall_at_k(cat, train_labels, qry, val_labels), **{f"photo_{k}": v for k, v in by_photo.items()}}


def agreement(reference: Embed, other: Embed, images: np.ndarray, size: int) -> dict[str, float]:
    """Cosine similarity between two embedders' outputs on the same real images (mean and min)."""
    a = embed_images(reference, images, size, batch=16, desc="agree ref")
    b = embed_images(other, images, size, batch=16, desc="agree other")
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return {"cosine_mean": round(float(cos.mean()), 5), "cosine_min": round(float(cos.min()), 5)}


def latency_ms(make: Callable[[int], Embed], size: int, threads=(1, 2), runs: int = 30) -> dict[str, float]:
    """Median single-image latency in ms for each thread count (``make(threads) -> Embed``)."""
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    out = {}
    for t in threads:
        fn = make(t)
        for _ in range(5):
            fn(x)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn(x)
            times.append((time.perf_counter() - start) * 1000)
        out[f"latency_ms_{t}t"] = round(float(np.median(times)), 2)
    return out


def file_size_mb(path: str | Path) -> float:
    """File size in MB (10^6 bytes)."""
    return round(os.path.getsize(path) / 1e6, 3)


def torch_latency_factory(model) -> Callable[[int], Embed]:
    """Latency factory for a torch model (sets torch's intra-op threads)."""
    import torch

    def make(threads: int) -> Embed:
        torch.set_num_threads(threads)
        return torch_embedder(model)
    return make
