"""The command line: help everywhere, documented in the README, exit codes and one-line errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import click
import pytest

from edge.cli.main import cli

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands(group: click.Group, prefix=(), ctx=None):
    """Every command, those the installed plugins contribute (cli_commands) included."""
    ctx = ctx or click.Context(group, info_name="storefront-edge")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name), click.Context(command, parent=ctx, info_name=name))


@pytest.fixture
def invoke(runner, data_dir, monkeypatch):
    monkeypatch.setenv("STOREFRONT_EDGE_PLUGINS", "catalog")

    def run(*args, code=0):
        result = runner.invoke(cli, ["--data-dir", str(data_dir), *map(str, args)])
        assert result.exit_code == code, result.output
        return result.output

    return run


@pytest.mark.parametrize("path", [p for p, _ in _commands(cli)], ids=" ".join)
def test_every_command_has_help_and_is_in_the_readme(runner, path):
    result = runner.invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    command = dict(_commands(cli))[path]
    assert (command.help or "").strip(), f"{' '.join(path)} has no help text"
    assert f"storefront-edge {' '.join(path)}" in README.read_text(), f"README does not document {' '.join(path)}"


def test_keys_generate_trust_and_list(invoke, data_dir):
    out = invoke("keys", "generate")
    private = data_dir / "keys" / "signing.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key_id = out.split("key id:")[1].strip()
    assert invoke("keys", "list").strip() == key_id
    assert "refusing to overwrite" in invoke("keys", "generate", code=1)


def test_bundle_lifecycle_from_the_command_line(invoke, data_dir, tmp_path):
    from tests.builders import bundle_source

    invoke("keys", "generate")
    first, second = bundle_source(tmp_path / "one", "1.0.0"), bundle_source(tmp_path / "two", "1.1.0", scale=3.0)
    for folder in (first, second):
        assert "built test-bundle" in invoke("bundle", "build", folder)
    invoke("bundle", "sign", first)
    assert "packed" in invoke("bundle", "sign", second, "--archive", tmp_path / "two.tar.gz")
    assert invoke("bundle", "verify", tmp_path / "two.tar.gz").startswith("OK test-bundle 1.1.0")
    assert "1.0.0, active" in invoke("bundle", "install", first)
    assert "1.1.0, active" in invoke("bundle", "install", tmp_path / "two.tar.gz")
    listing = json.loads(invoke("bundle", "list", "--json"))
    assert listing["active"] == {"test-bundle": "1.1.0"} and len(listing["bundles"]) == 2
    assert "active: test-bundle 1.0.0" in invoke("bundle", "rollback")
    assert "active: test-bundle 1.1.0" in invoke("bundle", "activate", "1.1.0")
    assert "active: test-bundle 1.0.0" in invoke("bundle", "rollback", "test-bundle")
    assert "active: test-bundle 1.1.0" in invoke("bundle", "activate", "test-bundle", "1.1.0")
    error = invoke("bundle", "activate", "3.0.0", code=1)
    assert error.count("\n") == 1 and "[not_installed]" in error


def test_tampered_bundle_fails_verify_and_install_with_one_line(invoke, tmp_path):
    from tests.builders import bundle_source

    invoke("keys", "generate")
    folder = bundle_source(tmp_path / "b", "1.0.0")
    invoke("bundle", "build", folder)
    invoke("bundle", "sign", folder)
    (folder / "doubler.onnx").write_bytes(b"changed")
    for command in ("verify", "install"):
        out = invoke("bundle", command, folder, code=1)
        assert out.startswith("Error:") and "[hash_mismatch]" in out and out.count("\n") == 1


def test_usage_errors_exit_2(invoke, tmp_path):
    assert "does not exist" in invoke("bundle", "install", tmp_path / "missing.tar.gz", code=2)
    assert "No such command" in invoke("frobnicate", code=2)


def test_build_without_spec_fails_cleanly(invoke, tmp_path):
    (tmp_path / "empty").mkdir()
    assert "[missing_spec]" in invoke("bundle", "build", tmp_path / "empty", code=1)


def test_serve_refuses_public_bind_without_keys(invoke, monkeypatch):
    monkeypatch.delenv("STOREFRONT_EDGE_CLIENT_KEY", raising=False)
    monkeypatch.delenv("STOREFRONT_EDGE_ADMIN_KEY", raising=False)
    assert "refusing to bind 0.0.0.0 without API keys" in invoke("serve", "--host", "0.0.0.0", code=1)


def test_serve_takes_host_and_port_from_the_environment(invoke, monkeypatch):
    monkeypatch.delenv("STOREFRONT_EDGE_CLIENT_KEY", raising=False)
    monkeypatch.delenv("STOREFRONT_EDGE_ADMIN_KEY", raising=False)
    from edge.cli.node_cmds import serve

    monkeypatch.setenv("STOREFRONT_EDGE_HOST", "0.0.0.0")
    monkeypatch.setenv("STOREFRONT_EDGE_PORT", "9123")
    parsed = serve.make_context("serve", []).params  # parsed, not run: nothing binds
    assert (parsed["host"], parsed["port"]) == ("0.0.0.0", 9123)
    assert "refusing to bind 0.0.0.0 without API keys" in invoke("serve", code=1)
    monkeypatch.setenv("STOREFRONT_EDGE_PORT", "70000")
    assert "70000" in invoke("serve", code=2)


@pytest.mark.parametrize("host", ["", " ", "::", "0.0.0.0", "10.0.0.5", "my-server", "[::]"])
def test_serve_refuses_every_host_that_is_not_loopback_without_keys(invoke, monkeypatch, host):
    monkeypatch.delenv("STOREFRONT_EDGE_CLIENT_KEY", raising=False)
    monkeypatch.delenv("STOREFRONT_EDGE_ADMIN_KEY", raising=False)
    assert "without API keys" in invoke("serve", "--host", host, code=1)


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("[::1]", True),
                                            ("localhost", True), ("", False), ("0.0.0.0", False), ("localhost.evil", False)])
def test_loopback_hosts(host, loopback):
    from edge.cli.node_cmds import loopback_host

    assert loopback_host(host) is loopback


def _models_dir(tmp_path: Path) -> Path:
    """A models_lite-like folder: a shipped key, a signed bundle and a two-item demo catalog."""
    from edge.bundles.signing import generate_keypair
    from tests.builders import signed_bundle

    models = tmp_path / "models_lite"
    private, public = generate_keypair(tmp_path / "shipper")
    (models / "keys").mkdir(parents=True)
    public.rename(models / "keys" / "shipper.pub")
    signed_bundle(models / "default", private, version="1.0.0")
    demo = models / "demo_catalog"
    (demo / "images" / "A").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 30, 30)).save(demo / "images" / "A" / "0.jpg")  # the import checks it is an image
    (demo / "catalog.csv").write_text("sku,title,description,price,currency,category,in_stock,images\n"
                                      "A,Apple,Crisp,1.20,EUR,Fruit,1,images/A/0.jpg\nB,Banana,,0.5,EUR,Fruit,1,\n")
    return models


def test_init_demo_then_doctor(invoke, tmp_path, data_dir):
    models = _models_dir(tmp_path)
    assert "none: run 'storefront-edge init'" in invoke("doctor", code=1)  # nothing installed yet
    out = invoke("init", "--demo", "--models-dir", models)
    assert "trusted shipped keys: 1" in out and "bundle: test-bundle 1.0.0 (active)" in out and "demo catalog: 2 items" in out
    assert (data_dir / "media" / "catalog" / "A" / "0.jpg").is_file()
    again = invoke("init", "--models-dir", models)  # a second run is harmless: nothing re-activated
    assert "bundle: test-bundle 1.0.0\n" in again and "(active)" not in again
    assert "plugin catalog" in invoke("doctor")


def test_init_demo_with_a_broken_catalog_keeps_what_was_stored(invoke, tmp_path, data_dir):
    models = _models_dir(tmp_path)
    invoke("init", "--demo", "--models-dir", models)
    (models / "demo_catalog" / "catalog.csv").write_text("sku,title,price\nC,Cherry,not-a-price\n")
    assert "line 2" in invoke("init", "--demo", "--models-dir", models, code=1)
    from edge.store import connect

    assert connect(data_dir / "store.db")["catalog_items"].count == 2


def test_init_installs_and_activates_every_shipped_bundle_name(invoke, tmp_path, data_dir):
    from edge.bundles.registry import BundleRegistry
    from tests.builders import signed_bundle

    models = _models_dir(tmp_path)
    signed_bundle(models / "fraud", tmp_path / "shipper" / "signing.key", version="0.3.0", name="fraud",
                  models={"scorer": {"file": "doubler.onnx", "runtime": "onnx"}})
    out = invoke("init", "--models-dir", models)
    assert "bundle: fraud 0.3.0 (active)" in out and "bundle: test-bundle 1.0.0 (active)" in out
    assert BundleRegistry(data_dir).active() == {"fraud": "0.3.0", "test-bundle": "1.0.0"}
    out = invoke("doctor")
    assert "bundle fraud" in out and "0.3.0 (models: scorer)" in out
