"""The plugin contract, proved by a third-party plugin (tests/thirdparty/greeter_plugin.py)."""

from __future__ import annotations

import inspect
import logging
import textwrap

import pytest

from edge import hookspecs
from edge.app import create_app
from edge.hookspecs import PluginInfo
from edge.plugin_host import PluginHost, validate_info
from tests.thirdparty import greeter_plugin


def test_plugin_not_ready_without_its_model_answers_503_json(client, client_headers):
    response = client.get("/v1/greeter/hello", headers=client_headers)
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "plugin_not_ready"
    assert "model 'doubler' is not in any active bundle" in error["details"][0]


def test_readyz_reports_per_plugin_detail(client, installed):
    report = client.get("/readyz").get_json()
    assert report["ready"] is True
    assert report["bundles"] == {"test-bundle": {"version": "1.0.0", "models": ["doubler"]}}
    assert report["plugins"]["greeter"] == {"ready": True, "reasons": [], "version": "1.2.3",
                                            "models": {"doubler": {"bundle": "test-bundle", "version": "1.0.0"}}}
    assert report["plugins"]["catalog"]["ready"] is True


def test_plugin_serves_model_from_bundle(client, installed, client_headers):
    response = client.post("/v1/greeter/double", json={"values": [1, 2, 3, 4]}, headers=client_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["values"], body["bundle"], body["bundle_name"]) == ([2.0, 4.0, 6.0, 8.0], "1.0.0", "test-bundle")


def test_unhealthy_plugin_is_not_ready_while_others_serve(client, installed, client_headers):
    greeter_plugin.STATE["healthy"] = False
    assert client.get("/v1/greeter/hello", headers=client_headers).status_code == 503
    assert client.get("/v1/catalog/items", headers=client_headers).status_code == 200
    report = client.get("/readyz")
    assert report.status_code == 503
    assert report.get_json()["plugins"]["greeter"]["reasons"] == ["greeter is resting"]


def test_plugin_config_is_validated_and_used(app_config, installed, client_headers):
    app = create_app({**app_config, "PLUGIN_CONFIG": {"greeter": {"greeting": "hi", "repeat": 2}}}, watch=False)
    assert app.test_client().get("/v1/greeter/hello", headers=client_headers).get_json() == {"message": "hi hi"}
    bad = create_app({**app_config, "PLUGIN_CONFIG": {"greeter": {"repeat": 99}}}, watch=False)
    status = bad.extensions["storefront_edge"].plugin_status("greeter")
    assert status["ready"] is False and "invalid config: repeat" in status["reasons"][0]


def test_startup_and_shutdown_hooks_run(app_config):
    before = dict(greeter_plugin.STATE)
    app = create_app(app_config, watch=False)
    assert greeter_plugin.STATE["started"] == before["started"] + 1
    app.extensions["storefront_edge"].close()
    assert greeter_plugin.STATE["stopped"] == before["stopped"] + 1


def test_plugin_migrations_are_applied_and_recorded(node):
    db = node.db()
    assert db["greetings"].exists()
    names = {(r["migration_set"], r["name"]) for r in db["_sqlite_migrations"].rows}
    assert ("greeter", "create_greetings") in names and ("catalog", "create_catalog_items") in names


def test_plugins_variable_limits_what_loads(app_config, monkeypatch):
    monkeypatch.setenv("STOREFRONT_EDGE_PLUGINS", "catalog")
    config = {k: v for k, v in app_config.items() if k != "PLUGINS"}
    app = create_app(config, watch=False)
    assert set(app.extensions["storefront_edge"].plugins.plugins) == {"catalog"}
    assert not any(r.rule.startswith("/v1/greeter") for r in app.url_map.iter_rules())


def test_trace_variable_logs_every_hook_call(app_config, monkeypatch, caplog):
    monkeypatch.setenv("STOREFRONT_EDGE_TRACE_HOOKS", "1")
    with caplog.at_level(logging.INFO, logger="edge.plugin_host"):
        create_app({k: v for k, v in app_config.items()}, watch=False)
    traced = {m.split("(")[0] for m in caplog.messages if m.startswith("hook ")}
    for hook in ("plugin_info", "migrations", "startup", "blueprint"):
        assert f"hook greeter.{hook}" in traced


def test_entry_point_discovery_of_a_third_party_plugin(tmp_path, monkeypatch):
    dist = tmp_path / "greeter_dist-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: greeter-dist\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[storefront_edge.plugins]\ngreeter = tests.thirdparty.greeter_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    host = PluginHost(allowed=["greeter"])
    host.load()
    assert [p.name for p in host.usable()] == ["greeter"]
    assert host.plugins["greeter"].info.models == ("doubler",)


def _app_with_plugin(app_config, tmp_path, monkeypatch, name: str, source: str, also=()):
    """An app loading the plugin module ``name`` written from ``source`` (plus the plugins in ``also``)."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return create_app({**app_config, "PLUGINS": [*also, name], "EXTRA_PLUGINS": [name]}, watch=False)


def test_broken_plugin_is_reported_and_node_keeps_serving(app_config, tmp_path, monkeypatch, client_headers):
    app = _app_with_plugin(app_config, tmp_path, monkeypatch, "broken_plugin", """
        from edge.hookspecs import hookimpl, PluginInfo
        @hookimpl
        def plugin_info():
            return PluginInfo(name="Broken Name", version="x")
        @hookimpl
        def startup(node):
            raise RuntimeError("boom")
    """, also=["catalog"])
    status = app.extensions["storefront_edge"].plugin_status("broken_plugin")
    assert status["ready"] is False
    assert len(status["reasons"]) == 3  # every problem, not only the first
    assert app.test_client().get("/v1/catalog/items", headers=client_headers).status_code == 200


def test_validate_info_collects_every_problem():
    problems = validate_info("shop", PluginInfo(name="Other", version="1", models=("",), config=dict))
    assert len(problems) == 5


def test_routes_outside_v1_are_refused(app_config, tmp_path, monkeypatch):
    app = _app_with_plugin(app_config, tmp_path, monkeypatch, "outside_plugin", """
        from flask import Blueprint
        from edge.hookspecs import hookimpl, PluginInfo
        @hookimpl
        def plugin_info():
            return PluginInfo(name="outside_plugin", version="1.0.0")
        @hookimpl
        def blueprint(node):
            bp = Blueprint("outside_plugin", __name__, url_prefix="/admin")
            bp.add_url_rule("/x", "x", lambda: "x")
            return bp
    """)
    assert "/admin/x" not in {r.rule for r in app.url_map.iter_rules()}
    assert "routes not mounted" in app.extensions["storefront_edge"].plugin_status("outside_plugin")["reasons"][0]


@pytest.mark.parametrize("name", [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "storefront_edge_spec")])
def test_every_hook_is_documented_and_implemented_by_the_test_plugin(name):
    spec = getattr(hookspecs, name)
    assert (spec.__doc__ or "").strip(), f"hook {name} has no docstring"
    assert hasattr(greeter_plugin, name), f"hook {name} is not exercised by the test plugin"
