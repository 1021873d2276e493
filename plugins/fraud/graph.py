"""The account-device-IP-card graph of recent payments, updated per event.

Each payment links its account to its card, device and IP (both directions, ``last_seen`` = the
payment's time; a payment without an account links its card instead) in ``fraud_edges``. Nodes are
named ``<store>/<kind>:<value>``: every store has its own graph (CDN edge mode); known fraud (a
``fraud`` verdict or a block-listed entity) is known in every store.

Features, read in the payment's write transaction after its own edges are written (:func:`read`), or before
it and without writing anything, counting and walking the payment's own edges as if written
(:func:`read_as_recorded`: the precheck scores its models on those outside the write lock):

- distinct accounts per device, IP and card, and cards, devices and IPs per account: one statement
  of six range reads by primary key, each capped at ``count_cap``, over edges younger than the time
  to live (older ones are ignored at once, before any prune);
- ``component_size``: the size of the payment's connected component, kept incrementally union-find
  style: every node has a component id in ``fraud_nodes``, every component its size in
  ``fraud_components``; a payment reads its nodes' components (one statement), and when it joins
  several, the smaller ones are relabelled into the largest (each node is relabelled O(log n) times).
  Bounded work per payment: a component already larger than ``max_nodes`` is not relabelled (the
  answer is capped at ``max_nodes`` anyway), and an entity shared by more than ``fanout`` accounts (a
  shop's wifi) keeps its links but no longer joins components, as a walk would not cross it;
- ``fraud_distance``: hops from the payment's account to the nearest known-fraud node, ``null`` if
  none. 0 or 1 when the payment's own entities are known; otherwise only a component holding a
  known-fraud node (looked up once per ``refresh_seconds`` and store, and kept current as payments merge
  components into one holding known fraud) is walked breadth first over
  live edges, bounded by ``max_nodes``, ``max_depth`` and ``fanout`` neighbours per node: the common
  payment, far from any fraud, costs no walk.

Expiry: a node not seen for the time to live that a payment touches again leaves its old component
(that component shrinks by one) and starts afresh; ``prune`` deletes, in bounded batches after the
answer is sent, edges and nodes older than the time to live and shrinks their components (found by ``seen_hour``,
:mod:`plugins.fraud.aging`, so no payment moves an index entry). Components
are not split when an edge in the middle expires (that would need a walk of the whole component); they
shrink as their nodes expire, and a component's size is the count of its nodes still stored.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .aging import SEEN_HOUR, Sweep, expired

KIND_OF_PREFIX = {"account": "account_id", "card": "card_hash", "device": "device_id", "ip": "ip"}
DEGREES = (("accounts_per_device", "device", "account"), ("accounts_per_ip", "ip", "account"),
           ("accounts_per_card", "card", "account"), ("cards_per_account", "account", "card"),
           ("devices_per_account", "account", "device"), ("ips_per_account", "account", "ip"))
_CAPPED = "(SELECT COUNT(*) FROM (SELECT 1 FROM fraud_edges WHERE a = ? AND b >= ? AND b < ? AND last_seen >= ? LIMIT ?))"
_DEGREE_SQL = "SELECT " + ", ".join([_CAPPED] * len(DEGREES))


@dataclass(frozen=True)
class GraphLimits:
    """Bounds of the component bookkeeping and the walk, and the time to live of an edge."""

    ttl_s: int = 7 * 86400
    max_nodes: int = 200
    max_depth: int = 4
    fanout: int = 50
    count_cap: int = 1000


def centre(keys: dict[str, str]) -> str | None:
    """The node a payment's edges meet at: its account, else its card."""
    return keys.get("account") or keys.get("card")


def bare(node: str) -> str:
    """A node's name without its store (``kind:value``), as known-fraud nodes are named."""
    return node.partition("/")[2]


def own_edges(keys: dict[str, str]) -> list[tuple[str, str]]:
    """The payment's edges: its centre to each of its other entities, both directions (none without an account or a
    card: its device and IP have no centre to meet at)."""
    hub = centre(keys)
    if hub is None:
        return []
    return [pair for key in keys.values() if key != hub for pair in ((hub, key), (key, hub))]


def record(db, keys: dict[str, str], ts: int) -> None:
    """Link the payment's centre to each of its other entities (both directions) at time ``ts``."""
    rows = [(a, b, ts, ts // SEEN_HOUR) for a, b in own_edges(keys)]
    db.conn.executemany("INSERT INTO fraud_edges (a, b, last_seen, seen_hour) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (a, b) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)", rows)


def unrecorded_edges(db, keys: dict[str, str], since: int) -> frozenset[tuple[str, str]]:
    """The payment's own edges that are not live now (absent, or older than ``since``): those :func:`record` would
    add to the live graph."""
    edges = own_edges(keys)
    if not edges:
        return frozenset()
    marks = " OR ".join(["(a = ? AND b = ?)"] * len(edges))
    live = set(db.conn.execute(f"SELECT a, b FROM fraud_edges WHERE ({marks}) AND last_seen >= ?",
                               [*(key for edge in edges for key in edge), since]))
    return frozenset(edge for edge in edges if edge not in live)


def degrees(db, keys: dict[str, str], since: int, cap: int, pending: frozenset = frozenset()) -> dict:
    """The six distinct-neighbour counts of the payment's entities, in one statement; ``pending``: live edges not yet
    written (:func:`unrecorded_edges`), counted as if they were."""
    params, prefixes = [], []
    for _, kind, other in DEGREES:
        node = keys.get(kind)
        store = node[:node.index("/") + 1] if node else ""
        params += [node, f"{store}{other}:", f"{store}{other};", since, cap]
        prefixes.append((node, f"{store}{other}:"))
    values = db.conn.execute(_DEGREE_SQL, params).fetchone()
    extra = [sum(1 for a, b in pending if a == node and b.startswith(prefix)) for node, prefix in prefixes]
    return {name: min(cap, int(value) + more) for (name, _, _), value, more in zip(DEGREES, values, extra)}


def _new_component(db, size: int) -> int:
    return db.conn.execute("INSERT INTO fraud_components (size) VALUES (?)", [size]).lastrowid


@dataclass(frozen=True)
class JoinPlan:
    """What joining a payment's component reads (:func:`plan_join`), to answer with or to write (:func:`apply_join`)."""

    nodes: list
    live: dict  # node -> (component, its stored size), of the payment's nodes seen within the time to live
    stale: Counter  # component -> how many of the payment's nodes leave it (not seen within the time to live)
    target: int | None  # the component the payment's nodes join (None: a new one)
    small: list  # the components relabelled into the target
    size: int  # the target's size afterwards
    answer: int  # the component size the payment is answered with

    @property
    def involved(self) -> set[int]:
        """Every stored component id the payment touches (a new component is not stored yet)."""
        return {comp for comp, _ in self.live.values()} | ({self.target} if self.target is not None else set())


def plan_join(db, keys: dict[str, str], since: int, shared: set[str], limits: GraphLimits) -> JoinPlan:
    """Read the payment's nodes and components and work out the join (see the module docstring); writes nothing."""
    nodes = list(dict.fromkeys(keys.values()))
    marks = ", ".join("?" * len(nodes))
    rows = db.conn.execute(f"SELECT n.node, n.comp, n.last_seen, c.size FROM fraud_nodes n JOIN fraud_components c "
                           f"ON c.comp = n.comp WHERE n.node IN ({marks})", nodes).fetchall()
    live = {node: (comp, size) for node, comp, seen, size in rows if seen >= since}
    stale = Counter(comp for node, comp, seen, _ in rows if seen < since)
    joining = {comp: size - stale[comp] for node, (comp, size) in live.items() if node not in shared}
    target = max(joining, key=joining.get) if joining else None
    small = [c for c in joining if c != target and joining[c] <= limits.max_nodes]
    fresh = [n for n in nodes if n not in live]
    size = joining.get(target, 0) + sum(joining[c] for c in small) + len(fresh)
    centre_node = centre(keys)
    answer = live[centre_node][1] if centre_node in live and centre_node in shared else size
    return JoinPlan(nodes, live, stale, target, small, size, answer)


def apply_join(db, plan: JoinPlan, ts: int) -> int:
    """Write a :func:`plan_join` (nodes seen at ``ts``); the id of the component they are in."""
    live, stale, target, small, size = plan.live, plan.stale, plan.target, plan.small, plan.size
    if stale:
        db.conn.executemany("UPDATE fraud_components SET size = size - ? WHERE comp = ?", [(n, c) for c, n in stale.items()])
    if target is None:
        target = _new_component(db, size)
    else:
        db.conn.execute("UPDATE fraud_components SET size = ? WHERE comp = ?", [size, target])
    if small:
        db.conn.executemany("UPDATE fraud_nodes SET comp = ? WHERE comp = ?", [(target, c) for c in small])
        db.conn.executemany("DELETE FROM fraud_components WHERE comp = ?", [(c,) for c in small])
    moved = set(small) | {target}
    db.conn.executemany("INSERT INTO fraud_nodes (node, comp, last_seen, seen_hour) VALUES (?, ?, ?, ?) ON CONFLICT (node) "
                        "DO UPDATE SET comp = excluded.comp, last_seen = max(last_seen, excluded.last_seen)",
                        [(n, target if n not in live or live[n][0] in moved else live[n][0], ts, ts // SEEN_HOUR)
                         for n in plan.nodes])
    emptied = [(c,) for c in stale if c not in moved]  # every node of it was stale and has moved to ``target``
    if emptied:
        db.conn.executemany("DELETE FROM fraud_components WHERE comp = ? AND size <= 0", emptied)
    return target


def join(db, keys: dict[str, str], ts: int, since: int, shared: set[str], limits: GraphLimits) -> tuple[int, set[int]]:
    """Put the payment's nodes in one component (see the module docstring); its size and every component id involved."""
    plan = plan_join(db, keys, since, shared, limits)
    return plan.answer, plan.involved | {apply_join(db, plan, ts)}


def _neighbours(db, node: str, since: int, fanout: int, pending: frozenset) -> list[str]:
    """The first ``fanout`` live neighbours of ``node`` in name order, counting the ``pending`` edges as written."""
    stored = [b for (b,) in db.conn.execute("SELECT b FROM fraud_edges WHERE a = ? AND last_seen >= ? ORDER BY b LIMIT ?",
                                            [node, since, fanout])]
    extra = [b for a, b in pending if a == node]
    return sorted(stored + extra)[:fanout] if extra else stored


def _walk(db, start: str, since: int, known: frozenset, limits: GraphLimits, pending: frozenset = frozenset()) -> int | None:
    """Hops from ``start`` to the nearest known-fraud node over live edges (bounded), ``None`` if none is reached."""
    seen, frontier = {start}, [start]
    for depth in range(1, limits.max_depth + 1):
        following = []
        for node in frontier:
            for neighbour in _neighbours(db, node, since, limits.fanout, pending):
                if neighbour in seen:
                    continue
                if bare(neighbour) in known:
                    return depth
                seen.add(neighbour)
                following.append(neighbour)
                if len(seen) >= limits.max_nodes:
                    return None
        if not following:
            return None
        frontier = following
    return None


def read(db, keys: dict[str, str], ts: int, known: frozenset, limits: GraphLimits, known_components=None) -> dict:
    """Join the payment's component and return its graph features (its edges already recorded).

    ``known_components(store)``: the (mutable) set of component ids holding known-fraud nodes in that store,
    to which the components a payment merges with known fraud are added (``None``: walk whenever there is
    known fraud at all).
    """
    return _features(db, keys, ts, known, limits, known_components, pending=None)


def read_as_recorded(db, keys: dict[str, str], ts: int, known: frozenset, limits: GraphLimits,
                     known_components=None) -> dict:
    """The features :func:`record` then :func:`read` would give the payment now, without writing anything (nor
    adding to ``known_components``): its own edges not yet live are counted and walked as if written."""
    pending = unrecorded_edges(db, keys, ts - limits.ttl_s)
    return _features(db, keys, ts, known, limits, known_components, pending=pending)


def _features(db, keys: dict[str, str], ts: int, known: frozenset, limits: GraphLimits, known_components,
              pending: frozenset | None) -> dict:
    """:func:`read` (``pending`` None: joins and writes) or :func:`read_as_recorded` (``pending``: reads only)."""
    writing, pending = pending is None, pending or frozenset()
    since = ts - limits.ttl_s
    out = degrees(db, keys, since, limits.count_cap, pending)
    start = centre(keys)
    if start is None:
        return {**out, "component_size": 0, "fraud_distance": None, "near_fraud": False}
    shared = {keys[kind] for name, kind, _ in DEGREES[:3] if kind in keys and out[name] > limits.fanout}
    if writing:
        size, involved = join(db, keys, ts, since, shared, limits)
    else:
        plan = plan_join(db, keys, since, shared, limits)
        size, involved = plan.answer, plan.involved
    comps = known_components(start.partition("/")[0]) if known and known_components is not None else None
    own_known = any(bare(key) in known for key in keys.values())
    if writing and comps is not None and (own_known or involved & comps):
        comps.update(involved)  # the components this payment merged now hold known fraud too (until the next refresh)
    if bare(start) in known:
        distance = 0
    elif own_known:
        distance = 1
    elif known and (comps is None or involved & comps):
        distance = _walk(db, start, since, known, limits, pending)
    else:
        distance = None
    return {**out, "component_size": min(size, limits.max_nodes), "fraud_distance": distance,
            "near_fraud": distance is not None and distance <= 2}


def known_fraud_nodes(db) -> frozenset:
    """Graph nodes of confirmed fraud (``kind:value``, in every store): the entities of ``fraud`` verdicts and every
    block-listed entity."""
    nodes = set()
    for row in db.execute("SELECT account_id, card_hash, device_id, ip FROM fraud_labels WHERE verdict = 'fraud'"):
        nodes.update(f"{kind}:{value}" for kind, value in zip(KIND_OF_PREFIX, row) if value)
    for kind, value in db.execute("SELECT kind, value FROM fraud_lists WHERE list = 'block' AND kind IN "
                                  "('account', 'card', 'device', 'ip')"):
        nodes.add(f"{kind}:{value}")
    return frozenset(nodes)


def components_of(db, store: str, known: frozenset, chunk: int = 500) -> frozenset:
    """The component ids of ``store`` holding a known-fraud node."""
    names = sorted(f"{store}/{node}" for node in known)
    found = set()
    for start in range(0, len(names), chunk):
        part = names[start:start + chunk]
        found.update(c for (c,) in db.conn.execute(
            f"SELECT comp FROM fraud_nodes WHERE node IN ({', '.join('?' * len(part))})", part))
    return frozenset(found)


def prune(db, ts: int, ttl_s: int, batch: int = 5000) -> Sweep:
    """Delete, of up to ``batch`` candidate edges and ``batch`` candidate nodes, those older than ``ttl_s`` (shrinking
    their components)."""
    edges, edges_full = expired(db, "fraud_edges", ("a", "b"), ts - ttl_s, batch)
    db.conn.executemany("DELETE FROM fraud_edges WHERE a = ? AND b = ?", edges)
    nodes, nodes_full = expired(db, "fraud_nodes", ("node",), ts - ttl_s, batch, extra=("comp",))
    db.conn.executemany("DELETE FROM fraud_nodes WHERE node = ?", [(node,) for node, _ in nodes])
    gone = Counter(comp for _, comp in nodes)
    db.conn.executemany("UPDATE fraud_components SET size = size - ? WHERE comp = ?", [(n, c) for c, n in gone.items()])
    db.conn.executemany("DELETE FROM fraud_components WHERE comp = ? AND size <= 0", [(c,) for c in gone])
    return Sweep(len(edges) + len(nodes), edges_full or nodes_full)
