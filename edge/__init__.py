"""storefront-edge: the edge node runtime (app factory, plugin host, model runtime, bundles, store, CLI)."""

__version__ = "0.1.0"
