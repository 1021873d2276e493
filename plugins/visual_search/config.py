"""The visual search plugin's settings (``PLUGIN_CONFIG = {"visual_search": {...}}``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class VisualSearchConfig(BaseModel):
    """Validated settings; every field has a default that suits a 2-core store server."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field("vision_embedder", description="Bundle model that embeds images (ONNX or TFLite).")
    default_k: int = Field(10, ge=1, le=100, description="Results returned when a request gives no k.")
    max_pixels: int = Field(50_000_000, ge=1, description="Largest width x height accepted, read from the image header.")
    trees: int = Field(60, ge=1, le=500, description="Annoy trees: more is better recall, a larger file, a slower build.")
    exact_items: int = Field(10_000, ge=0, description="Catalogs of up to this many SKUs are searched exactly (a matrix product), larger ones through annoy.")
    search_k: int = Field(60_000, ge=-1, description="Annoy nodes inspected per query (-1: trees x candidates); the default keeps recall@10 >= 0.99 at 100,000 SKUs.")
    candidates: int = Field(100, ge=10, le=5000, description="Candidates per ranking (image, text) before filters and fusion.")
    exact_limit: int = Field(20_000, ge=0, description="Filtered sets up to this size are scored exactly when ANN finds too few.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    batch_size: int = Field(16, ge=1, le=256, description="Catalog images embedded per model call while building.")
    poll_ms: int = Field(500, ge=10, description="How often a worker checks the catalog and bundle for changes.")
    keep_indexes: int = Field(2, ge=1, description="Index files kept in the cache folder (the newest).")
