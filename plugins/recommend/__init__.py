"""The recommendations plugin: session-aware, in-stock, long-tail-aware "you may also like" on the node."""
