"""The sequential recommender: a GRU4Rec-style GRU over the session's last items, trained in torch.

Items are embedded (index + 1; 0 pads the left of a short session), a one-layer GRU reads the last
``SEQ_LEN`` items and its last state, projected, is the session vector; an item's score is the dot
product of the session vector with the item's output vector (those vectors go into an annoy index on
the node). Training: every prefix of every training session predicts its next item, cross-entropy
over all items (or, past ``FULL_SOFTMAX_ITEMS`` items, over the batch's targets plus sampled
negatives), Adam, mini-batches of 128, dropout 0.5 on the embedded items and on the last state, for ``epochs``
(40) or ``seconds``, whichever ends first. On the DIGINETICA sample's validation split (the last 25 % of the
training sessions) that took the model's own HR@20 from 0.19 (no dropout, batches of 256, 8 epochs: the
training loss fell to 1.1 while validation stalled) to 0.27. The ONNX export takes
``items: int64[1, SEQ_LEN]`` and gives ``session: float32[1, dim]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from plugins.recommend.scoring import SEQ_LEN, encode

EPOCHS = 40
DROPOUT = 0.5
FULL_SOFTMAX_ITEMS = 20_000
SAMPLED_NEGATIVES = 2048


def _module(n_items: int, dim: int, dropout: float = 0.0):
    import torch
    from torch import nn

    class GRU4Rec(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(n_items + 1, dim, padding_idx=0)
            self.gru = nn.GRU(dim, dim, batch_first=True)
            self.project = nn.Linear(dim, dim)
            self.out = nn.Embedding(n_items, dim)
            self.drop = nn.Dropout(dropout)  # training only: the exported (eval mode) model has none
            nn.init.normal_(self.out.weight, std=0.05)

        def forward(self, items):
            hidden, _ = self.gru(self.drop(self.embed(items)))
            return torch.tanh(self.project(self.drop(hidden[:, -1, :])))

    return GRU4Rec()


def prefixes(sessions, index) -> tuple[np.ndarray, np.ndarray]:
    """Every (last ``SEQ_LEN`` items, next item) pair of the sessions, left-padded with 0 (items are index + 1)."""
    inputs, targets = [], []
    for session in sessions:
        items = [index[s] + 1 for s in session.items if s in index]
        for end in range(1, len(items)):
            window = items[max(0, end - SEQ_LEN):end]
            inputs.append([0] * (SEQ_LEN - len(window)) + window)
            targets.append(items[end] - 1)
    return np.array(inputs, dtype=np.int64).reshape(-1, SEQ_LEN), np.array(targets, dtype=np.int64)


def _loss(model, batch, target, n_items, generator):
    import torch
    import torch.nn.functional as F

    session = model(batch)
    if n_items <= FULL_SOFTMAX_ITEMS:
        return F.cross_entropy(session @ model.out.weight.T, target)
    negatives = torch.randint(0, n_items, (SAMPLED_NEGATIVES,), generator=generator)
    candidates = torch.cat([target, negatives])
    logits = session @ model.out.weight[candidates].T
    return F.cross_entropy(logits, torch.arange(len(target)))


def train(sessions, index, *, dim=64, epochs=EPOCHS, seconds=600.0, batch_size=128, lr=0.005, dropout=DROPOUT,
          seed=0, log=None):
    """Train the GRU on the sessions' prefixes; return the torch module (in eval mode)."""
    log = log or sys.stderr
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # small matrices: one thread is as fast, and far faster on a busy machine
    model = _module(len(index), dim, dropout)
    inputs, targets = prefixes(sessions, index)
    if not len(inputs):
        return model.eval()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.from_numpy(inputs), torch.from_numpy(targets)
    generator = torch.Generator().manual_seed(seed)
    started = time.monotonic()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            pick = order[start:start + batch_size]
            optimiser.zero_grad()
            loss = _loss(model, x[pick], y[pick], len(index), generator)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(pick)
            if time.monotonic() - started > seconds:
                break
        print(f"sequential: epoch {epoch + 1}/{epochs} loss {total / len(x):.3f}", file=log)
        if time.monotonic() - started > seconds:
            print(f"sequential: stopped after {seconds:.0f} s", file=log)
            break
    return model.eval()


def session_vectors(model, batch: np.ndarray) -> np.ndarray:
    """Session vectors for a batch of encoded sessions (torch, for evaluation)."""
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(batch)).numpy()


def item_vectors(model) -> np.ndarray:
    """The output vector of every item (rows by item index)."""
    return model.out.weight.detach().numpy().astype(np.float32)


def export_onnx(model, path) -> None:
    """Write the session encoder as ONNX: ``items int64[1, SEQ_LEN]`` to ``session float32[1, dim]``."""
    import warnings

    import torch

    example = torch.zeros((1, SEQ_LEN), dtype=torch.int64)
    with warnings.catch_warnings():  # the batch-size note of GRU exports: the export is for batch 1 on purpose
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), input_names=["items"], output_names=["session"],
                          dynamo=False, opset_version=17)
