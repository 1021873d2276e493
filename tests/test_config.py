"""Configuration precedence: defaults, then the instance file, then environment, then explicit overrides."""

from __future__ import annotations

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
