"""Configuration precedence: defaults, then the instance file, then environment, then explicit overrides."""

from __future__ import annotations

import pytest
from flask import Flask

from edge.config import DEFAULTS, load_config


def _config(overrides=None):
    app = Flask("t")
    load_config(app, overrides)
    return app.config


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("STOREFRONT_EDGE_DATA_DIR", str(tmp_path))
    config = _config()
    assert config["MAX_CONTENT_LENGTH"] == DEFAULTS["MAX_CONTENT_LENGTH"] == 10 * 1024 * 1024
    assert config["PLUGINS"] is None and config["DATA_DIR"] == str(tmp_path.resolve())


def test_instance_file_then_environment_then_overrides(monkeypatch, tmp_path):
    (tmp_path / "config.toml").write_text('max_content_length = 111\nclient_key = "from-file"\nplugins = "catalog,greeter"\n')
    monkeypatch.setenv("STOREFRONT_EDGE_DATA_DIR", str(tmp_path))
    config = _config()
    assert (config["MAX_CONTENT_LENGTH"], config["CLIENT_KEY"], config["PLUGINS"]) == (111, "from-file", ["catalog", "greeter"])
    monkeypatch.setenv("STOREFRONT_EDGE_MAX_CONTENT_LENGTH", "222")
    monkeypatch.setenv("STOREFRONT_EDGE_CLIENT_KEY", "123456")
    config = _config()
    assert (config["MAX_CONTENT_LENGTH"], config["CLIENT_KEY"]) == (222, "123456")
    assert _config({"MAX_CONTENT_LENGTH": 333})["MAX_CONTENT_LENGTH"] == 333


def test_nested_plugin_config_from_environment(monkeypatch, tmp_path):
    """Nested values stay strings in the config; the plugin's pydantic config converts and checks them."""
    from edge.app import create_app
    from tests.conftest import GREETER

    monkeypatch.setenv("STOREFRONT_EDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STOREFRONT_EDGE_PLUGIN_CONFIG__greeter__repeat", "3")
    monkeypatch.setenv("STOREFRONT_EDGE_PLUGIN_CONFIG__greeter__greeting", "1.50")
    assert _config()["PLUGIN_CONFIG"] == {"greeter": {"repeat": "3", "greeting": "1.50"}}
    app = create_app({"PLUGINS": ["greeter"], "EXTRA_PLUGINS": [GREETER]}, watch=False)
    try:
        settings = app.extensions["storefront_edge"].plugin_config("greeter")
        assert (settings.repeat, settings.greeting) == (3, "1.50")
    finally:
        app.extensions["storefront_edge"].close()


def test_explicit_config_file_variable(monkeypatch, tmp_path):
    other = tmp_path / "elsewhere.toml"
    other.write_text("bundle_poll_interval = 0.5\n")
    monkeypatch.setenv("STOREFRONT_EDGE_CONFIG_FILE", str(other))
    assert _config({"DATA_DIR": str(tmp_path)})["BUNDLE_POLL_INTERVAL"] == 0.5


JSONISH = ["1.50", "true", "True", "null", "007", "[1, 2]", '{"a": 1}', '"quoted"', "1e3", " spaced ", "-0"]


@pytest.mark.parametrize("value", JSONISH)
@pytest.mark.parametrize("key", ["CLIENT_KEY", "ADMIN_KEY", "HUB_TOKEN", "HUB_URL"])
def test_keys_and_strings_are_taken_as_written(monkeypatch, tmp_path, key, value):
    monkeypatch.setenv("STOREFRONT_EDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(f"STOREFRONT_EDGE_{key}", value)
    assert _config()[key] == value


@pytest.mark.parametrize("value", ["1.50", "true", "007"])
def test_a_key_that_looks_like_json_opens_the_node_exactly(tmp_path, monkeypatch, value):
    from edge.app import create_app

    monkeypatch.setenv("STOREFRONT_EDGE_CLIENT_KEY", value)
    app = create_app({"DATA_DIR": str(tmp_path), "PLUGINS": ["catalog"]}, watch=False)
    try:
        client = app.test_client()
        assert client.get("/v1/catalog/items", headers={"Authorization": f"Bearer {value}"}).status_code == 200
        reinterpreted = {"1.50": "1.5", "true": "True", "007": "7"}[value]
        assert client.get("/v1/catalog/items", headers={"Authorization": f"Bearer {reinterpreted}"}).status_code == 403
    finally:
        app.extensions["storefront_edge"].close()


def test_numbers_and_flags_are_still_parsed(monkeypatch, tmp_path):
    monkeypatch.setenv("STOREFRONT_EDGE_DATA_DIR", str(tmp_path))
    for name, value in {"MAX_CONTENT_LENGTH": "2048", "BUNDLE_POLL_INTERVAL": "0.5", "SYNC_WORKER": "off",
                        "TRACE_HOOKS": "yes", "MODEL_THREADS_IDLE": "auto"}.items():
        monkeypatch.setenv(f"STOREFRONT_EDGE_{name}", value)
    config = _config()
    assert (config["MAX_CONTENT_LENGTH"], config["BUNDLE_POLL_INTERVAL"], config["SYNC_WORKER"], config["TRACE_HOOKS"],
            config["MODEL_THREADS_IDLE"]) == (2048, 0.5, False, True, "auto")
    monkeypatch.setenv("STOREFRONT_EDGE_SYNC_WORKER", "perhaps")
    with pytest.raises(ValueError, match="SYNC_WORKER"):
        _config()


@pytest.mark.parametrize("value", ["catalog,events", " catalog , events ", '["catalog", "events"]'])
def test_the_hub_reads_its_config_with_the_same_loader(monkeypatch, tmp_path, value):
    """Same precedence, instance file and normalisation as the node, by the hub's prefix."""
    from edge.hub.app import create_hub_app

    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    (hub_dir / "config.toml").write_text('admin_key = "from-file"\nmax_content_length = 1000\n')
    monkeypatch.setenv("STOREFRONT_EDGE_HUB_PLUGINS", value)
    monkeypatch.setenv("STOREFRONT_EDGE_HUB_ADMIN_KEY", "1.50")
    app = create_hub_app({"DATA_DIR": str(hub_dir)})
    try:
        assert app.config["PLUGINS"] == ["catalog", "events"]
        assert (app.config["ADMIN_KEY"], app.config["MAX_CONTENT_LENGTH"]) == ("1.50", 1000)
        assert {"catalog_items", "events"} <= set(app.extensions["storefront_edge_hub"]["tables"])
    finally:
        app.extensions["storefront_edge_hub"]["store"].close()
    overridden = create_hub_app({"DATA_DIR": str(hub_dir), "ADMIN_KEY": "override"})
    overridden.extensions["storefront_edge_hub"]["store"].close()
    assert overridden.config["ADMIN_KEY"] == "override"
