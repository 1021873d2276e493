"""Built-in plugins. Each registers through the ``storefront_edge.plugins`` entry-point group."""
