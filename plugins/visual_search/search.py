"""Rankings and their fusion: image neighbours (annoy), text matches (FTS5 BM25), filters, RRF.

Filters (category, price range, stock) are applied in SQLite to each ranking's candidates. When a
selective filter leaves fewer than ``k`` of the image candidates, the items matching the filter are
scored exactly against the stored vectors (if there are at most ``exact_limit`` of them), so a
filtered query still finds its best matches. The image ranking ranks SKUs by the cosine similarity of
the query to the mean vector of each SKU's photos (an index entry is an item id ``<store>/<sku>``, and
every ranking is confined to the request's store by the ``store`` filter); a result shows the SKU's photo nearest to the query.
Scores: that cosine for image-only results, negated BM25 for text-only, and the reciprocal rank
fusion score when both rankings are fused.
"""

from __future__ import annotations

import json
import re

from plugins.catalog.filters import Filters  # noqa: F401  (part of this module's API)

ROW_COLUMNS = "id, sku, title, price, currency, images"
FIRST_FETCH = 2  # SKU neighbours asked for per wanted SKU before widening (see neighbour_counts)
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """A safe FTS5 query: every word quoted, any may match (BM25 ranks items matching more words higher)."""
    words = _WORD.findall(text or "")[:32]
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words) or None


def text_ranking(conn, text: str, filters: Filters, limit: int) -> list[tuple[str, float]]:
    """``(item id, -bm25)`` of items whose title or description match ``text``, best first."""
    query = fts_query(text)
    if query is None:
        return []
    where, params = filters.sql()
    sql = (f"select c.id, bm25(catalog_items_fts, 2.0, 1.0) as rank from catalog_items_fts "
           f"join catalog_items c on c.rowid = catalog_items_fts.rowid "
           f"where catalog_items_fts match ? and {where} order by rank limit ?")
    return [(sku, -rank) for sku, rank in conn.execute(sql, [query, *params, limit])]


def rows_for(conn, skus, filters: Filters) -> dict[str, dict]:
    """Catalog rows of those item ids that pass ``filters``, by id."""
    skus = list(dict.fromkeys(skus))
    found = {}
    where, params = filters.sql()
    for start in range(0, len(skus), 500):
        chunk = skus[start:start + 500]
        sql = f"select {ROW_COLUMNS} from catalog_items c where c.id in ({','.join('?' * len(chunk))}) and {where}"
        cursor = conn.execute(sql, [*chunk, *params])
        names = [d[0] for d in cursor.description]
        found.update({row[0]: dict(zip(names, row)) for row in cursor})
    return found


def image_ranking(conn, index, vector, filters: Filters, want: int, config) -> list[tuple[str, float]]:
    """``(sku, cosine)`` best first, at most ``want``, passing ``filters``."""
    for count in neighbour_counts(want, config.candidates, filters.active):
        ranked = _passing(conn, index.nearest(vector, count, config.search_k), filters, want)
        if len(ranked) >= want or count >= len(index.sku_order):
            break
    if filters.active and len(ranked) < want:
        ranked = _exact_filtered(conn, index, vector, filters, config.exact_limit) or ranked
    return ranked[:want]


def neighbour_counts(want: int, candidates: int, filtered: bool) -> tuple[int, ...]:
    """How many SKU neighbours to ask annoy for, in turn, until ``want`` SKUs pass.

    An unfiltered query first asks for ``FIRST_FETCH * want`` (room for SKUs deleted since the index
    was built) and widens to ``2 * candidates`` only when too few pass; a filtered query, or one to
    be fused with text, asks for the wide count at once. Annoy's default effort grows with the count
    asked for, so the narrow first fetch is the cheap common case.
    """
    wide = max(want, candidates) * 2
    first = FIRST_FETCH * want
    return (first, wide) if not filtered and first < wide else (wide,)


def _passing(conn, ranked, filters: Filters, want: int) -> list[tuple[str, float]]:
    """``ranked`` without SKUs that fail ``filters`` or were deleted since the index was built, in order.

    The first ``2 * want`` are checked first and the rest only when too few of those pass, so a wide
    fetch whose filter passes most SKUs reads 20 rows instead of 200 (measured on 100,000 items:
    about 0.1 ms against 1.05 ms).
    """
    kept, start = [], 0
    for end in (want * 2, len(ranked)):
        chunk = ranked[start:end]
        allowed = rows_for(conn, [r[0] for r in chunk], filters) if chunk else {}
        kept += [r for r in chunk if r[0] in allowed]
        if len(kept) >= want:
            break
        start = end
    return kept


def _exact_filtered(conn, index, vector, filters: Filters, limit: int) -> list[tuple[str, float]]:
    where, params = filters.sql()
    skus = [r[0] for r in conn.execute(f"select c.id from catalog_items c where {where} limit ?", [*params, limit + 1])]
    if not skus or len(skus) > limit:
        return []
    return index.exact(vector, skus)


def fuse(rankings: list[list[str]], rrf_k: int) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: ``sum(1 / (rrf_k + rank))`` over the rankings, best first."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, sku in enumerate(ranking, start=1):
            scores[sku] = scores.get(sku, 0.0) + 1.0 / (rrf_k + rank)
    return sorted(scores.items(), key=lambda t: (-t[1], t[0]))


def result_item(row: dict, score: float, image: str | None = None, media_dir=None) -> dict:
    """The public shape of one result (its image at the catalog's content-addressed URL, in the request's store form)."""
    from edge.api import store_path

    from plugins.catalog.media import image_url

    names = json.loads(row.get("images") or "[]")
    image = image or (names[0] if names else None)
    return {"sku": row["sku"], "title": row["title"], "price": row["price"], "currency": row["currency"],
            "image_url": image_url(row["sku"], image, media_dir, store_path("/v1/catalog/images/")) if image else None, "score": round(float(score), 6)}
