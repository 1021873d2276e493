"""One model interface over onnxruntime (``.onnx``) and LiteRT (``.tflite``).

Plugins get models by name from the active bundles and call ``model.run({"input": array})``; they never import
a runtime. LiteRT comes from ``ai_edge_litert``; ``tflite_runtime`` is accepted as a fallback import.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import occupancy

RUNTIMES = {".onnx": "onnx", ".tflite": "tflite"}

_ONNX_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8",
    "tensor(uint8)": "uint8", "tensor(bool)": "bool", "tensor(string)": "str",
}


class ModelError(Exception):
    """A model could not be loaded or run."""


class ModelInputError(ModelError):
    """A model was called with inputs that do not fit its signature."""


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor: dtype and shape (``None`` for a dynamic dimension)."""

    name: str
    dtype: str
    shape: tuple

    def describe(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    def fits(self, array: np.ndarray) -> bool:
        if array.dtype != np.dtype(self.dtype) or array.ndim != len(self.shape):
            return False
        return all(want is None or want == got for want, got in zip(self.shape, array.shape))

    def example(self) -> np.ndarray:
        """A zero array of this spec (dynamic dimensions set to 1), for warm-up."""
        return np.zeros([1 if d is None else d for d in self.shape], dtype=self.dtype)


def _dim(value) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


@dataclass
class Model:
    """A loaded model with named inputs and outputs. Subclasses bind one runtime."""

    name: str
    path: Path
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    runtime: str = ""
    on_inference: object = None  # callable(model_name, seconds), set by the node for metrics

    def signature(self) -> dict:
        """The input/output signature as plain data (what a bundle manifest records)."""
        return {"inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs]}

    def check_inputs(self, feeds: dict) -> dict:
        """Return ``feeds`` as arrays, or raise ``ModelInputError`` naming the expected inputs."""
        expected = ", ".join(t.describe() for t in self.inputs)
        if not isinstance(feeds, dict) or set(feeds) != {t.name for t in self.inputs}:
            got = sorted(feeds) if isinstance(feeds, dict) else type(feeds).__name__
            raise ModelInputError(f"model '{self.name}' expects inputs {expected}; got {got}")
        arrays = {k: np.asarray(v) for k, v in feeds.items()}
        for spec in self.inputs:
            if not spec.fits(arrays[spec.name]):
                got = f"{arrays[spec.name].dtype}{list(arrays[spec.name].shape)}"
                raise ModelInputError(f"model '{self.name}' expects inputs {expected}; '{spec.name}' was {got}")
        return arrays

    def run(self, feeds: dict) -> dict:
        """Run the model on named inputs; return named outputs."""
        arrays = self.check_inputs(feeds)
        started = time.perf_counter()
        result = self._run(arrays)
        if self.on_inference is not None:
            self.on_inference(self.name, time.perf_counter() - started)
        return result

    def warmup(self, feeds: dict | None = None) -> dict:
        """Run once on ``feeds`` (default: zeros of the input signature) and return the outputs."""
        return self.run(feeds or {t.name: t.example() for t in self.inputs})

    def _run(self, arrays: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


class OnnxModel(Model):
    """A model run by onnxruntime on the CPU.

    With ``idle_threads`` it holds a second session that uses that many threads, and runs on it
    whenever no other request is in progress on the node (:mod:`edge.occupancy`).
    """

    def __init__(self, name: str, path: Path, threads: int = 1, idle_threads: int = 0):
        self._session = _onnx_session(name, path, threads)
        self._idle_session = _onnx_session(name, path, idle_threads) if idle_threads > threads else None
        specs = lambda items: [TensorSpec(i.name, _ONNX_TYPES.get(i.type, i.type), tuple(_dim(d) for d in i.shape)) for i in items]  # noqa: E731
        super().__init__(name, path, specs(self._session.get_inputs()), specs(self._session.get_outputs()), "onnx")

    def _run(self, arrays: dict) -> dict:
        names = [t.name for t in self.outputs]
        alone = self._idle_session is not None and occupancy.current().alone
        return dict(zip(names, (self._idle_session if alone else self._session).run(names, arrays)))


def _onnx_session(name: str, path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if threads > 1:
        # idle pool threads sleep instead of spinning: a spinning pool holds a core that the other
        # worker's request needs (measured with MODEL_THREADS_IDLE=auto, 4 concurrent clients on
        # 2 cores: 117-133 requests/s spinning against 166-177 without, as with one thread)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"cannot load ONNX model '{name}' from {path.name}: {exc}") from None


def _litert_interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ModelError("no TFLite runtime: install ai-edge-litert (pip install 'storefront-edge[edge]')") from None
    return Interpreter


class LiteRTModel(Model):
    """A model run by LiteRT (TFLite). One interpreter per model, guarded by a lock."""

    def __init__(self, name: str, path: Path, threads: int = 1):
        Interpreter = _litert_interpreter()
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load TFLite model '{name}' from {path.name}: {exc}") from None
        self._lock = threading.Lock()
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        self._input_index = {d["name"]: d["index"] for d in inputs}
        self._output_index = {d["name"]: d["index"] for d in outputs}
        spec = lambda d: TensorSpec(d["name"], np.dtype(d["dtype"]).name, tuple(_dim(int(x)) for x in d["shape_signature"]))  # noqa: E731
        super().__init__(name, path, [spec(d) for d in inputs], [spec(d) for d in outputs], "tflite")

    def _run(self, arrays: dict) -> dict:
        with self._lock:
            for name, array in arrays.items():
                index = self._input_index[name]
                if tuple(self._interpreter.get_input_details()[0]["shape"]) != array.shape and len(arrays) == 1:
                    self._interpreter.resize_tensor_input(index, array.shape)
                    self._interpreter.allocate_tensors()
                self._interpreter.set_tensor(index, array)
            self._interpreter.invoke()
            return {name: self._interpreter.get_tensor(i).copy() for name, i in self._output_index.items()}


def runtime_for(path: Path, runtime: str | None = None) -> str:
    """The runtime name for ``path``: explicit, or from its suffix."""
    runtime = runtime or RUNTIMES.get(Path(path).suffix.lower())
    if runtime not in {"onnx", "tflite"}:
        raise ModelError(f"unknown model runtime for '{Path(path).name}': use .onnx or .tflite")
    return runtime


def load_model(name: str, path: str | Path, runtime: str | None = None, threads: int = 1, idle_threads: int = 0) -> Model:
    """Load the model file at ``path`` with the runtime its suffix (or ``runtime``) names.

    ``idle_threads`` (ONNX only): threads for a run while its request is the only one in progress.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model '{name}' is missing: no file {path.name}")
    kind = runtime_for(path, runtime)
    return OnnxModel(name, path, threads, idle_threads) if kind == "onnx" else LiteRTModel(name, path, threads)
