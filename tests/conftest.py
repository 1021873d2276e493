"""Shared fixtures: a data folder, a trusted signing key, signed tiny bundles, an app and a CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import builders

CLIENT_KEY, ADMIN_KEY = "client-key-for-tests", "admin-key-for-tests"
GREETER = "tests.thirdparty.greeter_plugin"


@pytest.fixture
def data_dir(tmp_path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture
def signing_key(data_dir) -> Path:
    """A fresh Ed25519 key pair whose public half the node trusts; returns the private key path."""
    from edge.bundles.signing import generate_keypair

    private, public = generate_keypair(data_dir / "keys")
    (data_dir / "keys" / "trusted").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(public, data_dir / "keys" / "trusted" / "signing.pub")
    return private


@pytest.fixture
def make_bundle(tmp_path, signing_key):
    """Factory: a signed tiny bundle folder (model ``doubler`` multiplying by ``scale``)."""
    counter = iter(range(10_000))

    def make(version="1.0.0", scale=2.0, key=None, **kwargs) -> Path:
        folder = tmp_path / f"bundle-{version}-{next(counter)}"
        return builders.signed_bundle(folder, key or signing_key, version=version, scale=scale, **kwargs)

    return make


@pytest.fixture
def app_config(data_dir) -> dict:
    return {"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "greeter"], "EXTRA_PLUGINS": [GREETER],
            "CLIENT_KEY": CLIENT_KEY, "ADMIN_KEY": ADMIN_KEY}


@pytest.fixture
def app(app_config):
    from edge.app import create_app

    from tests.thirdparty import greeter_plugin

    greeter_plugin.STATE.update(healthy=True)
    application = create_app(app_config, watch=False)
    yield application
    application.extensions["storefront_edge"].close()


@pytest.fixture
def node(app):
    return app.extensions["storefront_edge"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def client_headers() -> dict:
    return {"Authorization": f"Bearer {CLIENT_KEY}"}


@pytest.fixture
def admin_headers() -> dict:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def installed(node, make_bundle):
    """The node with a tiny bundle 1.0.0 installed and loaded."""
    node.registry.install(make_bundle("1.0.0"))
    node.watcher.refresh()
    return node


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()
