"""Catalog filters (category, price range, stock) as a SQL fragment, shared by every catalog query."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Filters:
    """Optional catalog filters."""

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    in_stock: bool | None = None
    store: str | None = None  # the store whose rows are searched (always applied; not a user's filter)

    def sql(self, alias: str = "c") -> tuple[str, list]:
        """A ``where`` fragment (``1`` when empty) and its parameters; ``alias`` prefixes the columns."""
        column = f"{alias}." if alias else ""
        clauses, params = [], []
        if self.store is not None:
            clauses.append(f"{column}store = ?"), params.append(self.store)
        if self.category is not None:
            clauses.append(f"{column}category = ?"), params.append(self.category)
        if self.min_price is not None:
            clauses.append(f"{column}price >= ?"), params.append(self.min_price)
        if self.max_price is not None:
            clauses.append(f"{column}price <= ?"), params.append(self.max_price)
        if self.in_stock is not None:
            clauses.append(f"{column}in_stock > 0" if self.in_stock else f"{column}in_stock <= 0")
        return (" and ".join(clauses) or "1"), params

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.category, self.min_price, self.max_price, self.in_stock))
