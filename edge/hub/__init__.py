"""The central hub: registers nodes, receives edge deltas, serves hub deltas and bundles, stages rollouts.

Same codebase as the edge. Storage goes through :class:`edge.hub.base.HubStore`: by default a SQLite file
(``<hub dir>/hub.db``) carrying the same plugin tables (created by the plugins' migrations), the same
change capture (role ``hub``: the hub-owned tables are captured with origin ``hub``) and the same applier
for edge pushes; with a ``DATABASE_URL`` a PostgreSQL database (:mod:`edge.hub.postgres`) with the same
rules and the same delta files on the wire.
"""
