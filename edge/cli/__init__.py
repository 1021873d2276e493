"""The ``storefront-edge`` command line (click)."""
