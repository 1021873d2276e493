"""The plugin contract in code: required plugins, state slots, plugin commands, the ``edge.api`` surface, and a
third-party plugin's hub-owned table published on the hub and received by an edge."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from edge.app import create_app
from edge.sync.worker import sync_once
from tests.conftest import GREETER
from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_sync_support import FlaskTransport, hub_store, make_edge, make_hub, node_of, register

ROOT = Path(__file__).resolve().parent.parent


def test_a_plugin_whose_required_plugin_is_missing_is_blocked_with_the_reason(data_dir, client_headers):
    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["visual_search"], "CLIENT_KEY": "client-key-for-tests"}, watch=False)
    node = node_of(app)
    try:
        status = node.plugin_status("visual_search")
        assert status["ready"] is False
        assert "requires plugin 'catalog', which is not available on this node" in status["reasons"]
        assert node.plugins.plugins["visual_search"].blocked
        response = app.test_client().post("/v1/visual-search", json={"q": "apple"}, headers=client_headers)
        assert response.status_code == 503 and response.get_json()["error"]["code"] == "plugin_not_ready"
        assert not node.db()["catalog_items_fts"].exists(), "a blocked plugin's migrations and start-up do not run"
        assert app.test_client().get("/readyz").get_json()["plugins"]["visual_search"]["ready"] is False
    finally:
        node.close()


def test_required_plugins_start_first_and_blocks_propagate(tmp_path):
    from edge.hookspecs import PluginInfo, hookimpl
    from edge.plugin_host import PluginHost

    order = []

    def plugin(name, requires=()):
        class Plugin:
            @hookimpl
            def plugin_info(self):
                return PluginInfo(name=name, version="1.0.0", requires=requires)

            @hookimpl
            def startup(self, node):
                order.append(name)
        Plugin.PLUGIN_NAME = name
        return Plugin()

    host = PluginHost(extra=[plugin("c", ("b",)), plugin("b", ("a",)), plugin("a"), plugin("lonely", ("ghost",)),
                             plugin("follower", ("lonely",))])
    host.load()
    host.call_each("startup", node=None)
    assert order == ["a", "b", "c"]
    assert host.plugins["lonely"].missing == ["ghost"] and host.plugins["follower"].missing == ["lonely"]


def test_a_plugin_gets_its_own_state_slot_dropped_at_close(node, installed, client, client_headers):
    for expected in (1, 2):
        body = client.post("/v1/greeter/double", json={"values": [1, 2, 3, 4]}, headers=client_headers).get_json()
        assert body["served"] == expected
    assert node.slot("greeter").served == 2 and node.slot("catalog") is not node.slot("greeter")
    node.close()
    assert not hasattr(node.slot("greeter"), "served")


def test_a_plugin_adds_its_own_command(runner, data_dir, monkeypatch):
    from edge.cli.main import cli

    monkeypatch.setenv("STOREFRONT_EDGE_PLUGINS", "catalog,greeter")
    monkeypatch.setenv("STOREFRONT_EDGE_EXTRA_PLUGINS", json.dumps([GREETER]))
    app = create_app({"DATA_DIR": str(data_dir)}, watch=False)
    node_of(app).db()["greetings"].insert({"id": "g1", "text": "hej", "lang": "sv"})
    node_of(app).close()
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "greeter", "list"])
    assert result.exit_code == 0, result.output
    assert result.output == "g1\tsv\thej\n"
    assert "greeter" in runner.invoke(cli, ["--help"]).output
    monkeypatch.setenv("STOREFRONT_EDGE_PLUGINS", "catalog")
    assert runner.invoke(cli, ["--data-dir", str(data_dir), "greeter", "list"]).exit_code == 2  # not loaded: no command


def test_catalog_commands_come_from_the_catalog_plugin(runner, data_dir, tmp_path, monkeypatch):
    from edge.cli.main import cli

    monkeypatch.setenv("STOREFRONT_EDGE_PLUGINS", "catalog")
    csv = tmp_path / "c.csv"
    csv.write_text("sku,title,price\na1,Apple,1.5\n")
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "catalog", "import", str(csv)])
    assert result.exit_code == 0 and "imported 1 catalog items" in result.output
    hub_dir = tmp_path / "hub"
    result = runner.invoke(cli, ["hub", "publish-catalog", str(csv), "--data-dir", str(hub_dir)])
    assert result.exit_code == 0 and "published 1 catalog items" in result.output, result.output
    monkeypatch.setenv("STOREFRONT_EDGE_PLUGINS", "events")
    assert "publish-catalog" not in runner.invoke(cli, ["hub", "--help"]).output


def _imports_from_edge(path: Path):
    """``(module, name)`` for every ``from edge... import name`` in a file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "edge":
            yield from ((node.module, alias.name) for alias in node.names)
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "edge" for a in node.names):
            yield ("edge", "*")


PLUGIN_FILES = sorted([*ROOT.glob("plugins/**/*.py"), ROOT / "tests" / "thirdparty" / "greeter_plugin.py"])


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_use_only_what_edge_api_lists(path):
    import importlib

    import edge.api

    for module, name in _imports_from_edge(path):
        assert name in edge.api.__all__, f"{path.name} imports {name} from {module}: not in edge.api.__all__"
        assert getattr(importlib.import_module(module), name) is getattr(edge.api, name)


def test_the_third_party_plugin_imports_edge_api_only():
    assert {m for m, _ in _imports_from_edge(ROOT / "tests" / "thirdparty" / "greeter_plugin.py")} == {"edge.api"}


def test_edge_imports_no_plugin():
    for path in sorted(ROOT.glob("edge/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any(n.split(".")[0] == "plugins" for n in names), f"{path} imports a plugin"


def test_edge_api_refuses_what_it_does_not_list():
    import edge.api

    with pytest.raises(AttributeError, match="plugins may use only"):
        edge.api.Node  # noqa: B018


def test_a_third_party_hub_owned_table_is_published_on_the_hub_and_received_by_an_edge(tmp_path, hub_backend):
    extra = ["plugins.events.plugin", GREETER]
    hub = make_hub(tmp_path / "hub", hub_backend.url, EXTRA_PLUGINS=extra)
    try:
        client = hub.test_client()
        response = client.post("/v1/hub/tables/greetings/publish", data='{"id": "g1", "text": "hello"}\n'
                               '{"id": "g2", "text": "hej", "lang": "sv"}\n', content_type="application/x-ndjson")
        assert response.get_json() == {"table": "greetings", "upserted": 2, "deleted": 0}
        edge = make_edge(tmp_path / "edge", register(hub, "store-1"), PLUGINS=["greeter", "events"], EXTRA_PLUGINS=extra)
        node = node_of(edge)
        sync_once(node, FlaskTransport(hub))
        rows = {r["id"]: (r["text"], r["lang"]) for r in node.db()["greetings"].rows}
        assert rows == {"g1": ("hello", "en"), "g2": ("hej", "sv")}, "the default of a new row's missing column is filled"
        client.post("/v1/hub/tables/greetings/publish", json={"upsert": [{"id": "g1", "text": "hi"}], "delete": ["g2"]})
        sync_once(node, FlaskTransport(hub))
        assert [(r["id"], r["text"], r["lang"]) for r in node.db()["greetings"].rows] == [("g1", "hi", "en")]
        node.close()
    finally:
        hub_store(hub).close()
