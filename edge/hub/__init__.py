"""The central hub: registers nodes, receives edge deltas, serves hub deltas and bundles, stages rollouts.

Same codebase as the edge: the hub's store is a SQLite file (``<hub dir>/hub.db``) carrying the same
plugin tables (created by the plugins' migrations), the same change capture (role ``hub``: the
hub-owned tables are captured with origin ``hub``) and the same applier for edge pushes.
"""
