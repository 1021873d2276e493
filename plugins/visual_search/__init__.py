"""Visual search: find catalog items by a photo, by text, or by both.

* Catalog images are embedded with the active bundle's image model (``model`` in the plugin config,
  default ``vision_embedder``; its preprocessing comes from the bundle manifest) into an angular
  annoy index, memory-mapped from ``<data dir>/cache/visual_search/`` and named by model, bundle
  version and catalog fingerprint (see ``indexer``). Text goes through SQLite FTS5 (BM25) on titles
  and descriptions (see ``schema``); both rankings are fused by reciprocal rank fusion (``search``).
* Readiness: the plugin is not ready (503 JSON on its routes, and in ``/readyz``) while the active
  bundle lacks its model, and until this node's first index is built. Later rebuilds happen in the
  background while the previous index keeps answering; no request waits for a build.
* ``POST /v1/visual-search`` (``routes``): an image (multipart ``image`` part or raw body), optional
  ``q``, ``k`` (1..100) and filters; bad images get 4xx JSON errors (``imaging``).
"""
