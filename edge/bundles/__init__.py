"""Signed model bundles: manifest schema, Ed25519 signing, safe archives, build, install and activation."""

from .errors import BundleError

__all__ = ["BundleError"]
