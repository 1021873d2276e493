"""The catalog plugin: the hub-owned product catalog (items, prices, stock, images) on the node."""
