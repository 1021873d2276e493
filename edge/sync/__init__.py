"""SQLite-delta sync between edge nodes and the hub.

Modules, one job each:

* ``protocol`` – the typed protocol, defined once: ``Change``, ``Header``, formats, routes, media type, headers;
* ``capture``  – the sync tables and the generated change-capture / guard triggers (with a hybrid logical clock);
* ``delta``    – the wire format: a standalone, zstandard-compressed SQLite file with ``meta`` and ``changes``;
* ``export``   – read a delta (or a snapshot) out of a store's change log;
* ``apply``    – apply a delta idempotently, by table policy, with the cursor in the same transaction;
* ``tables``   – which tables sync, gathered from the plugins' ``synced_tables()`` hook;
* ``client``   – the edge's HTTP client for the hub;
* ``worker``   – the background loop (backoff with jitter, one elected process per node) and ``sync_once``.
"""
