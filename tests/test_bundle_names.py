"""Bundles by name: one version line per name, several names active at once, collisions and bad names refused,
and a data folder of the single-bundle layout upgraded in place."""

from __future__ import annotations

import json
import shutil

import pytest

from edge.bundles.errors import BundleError
from edge.bundles.registry import BundleRegistry
from tests.builders import run_doubler


def _error(call) -> BundleError:
    with pytest.raises(BundleError) as info:
        call()
    return info.value


def _model(name: str) -> dict:
    return {name: {"file": "doubler.onnx", "runtime": "onnx"}}


@pytest.fixture
def named(make_bundle):
    """Factory: a signed bundle ``name`` whose one model is called ``model`` (``y = x * scale``)."""

    def make(name: str, version: str, model: str, scale: float = 2.0):
        return make_bundle(version, scale=scale, name=name, models=_model(model))

    return make


@pytest.fixture
def registry(data_dir, signing_key) -> BundleRegistry:
    return BundleRegistry(data_dir)


def test_each_name_has_its_own_version_line(registry, named):
    registry.install(named("vision", "1.0.0", "embedder"))
    registry.install(named("fraud", "2.0.0", "scorer"))
    registry.install(named("vision", "1.1.0", "embedder"))
    assert registry.active() == {"fraud": "2.0.0", "vision": "1.1.0"}
    assert registry.rollback("vision") == "1.0.0"
    assert registry.active() == {"fraud": "2.0.0", "vision": "1.0.0"}, "a rollback of one name leaves the others"
    assert _error(lambda: registry.rollback("fraud")).code == "no_previous"
    assert registry.active() == {"fraud": "2.0.0", "vision": "1.0.0"}


def test_one_name_forms_need_a_name_when_several_fit(registry, named):
    registry.install(named("vision", "1.0.0", "embedder"))
    registry.install(named("vision", "1.1.0", "embedder"))
    assert registry.rollback() == "1.0.0"  # one name active: the short form still works
    assert registry.activate(None, "1.1.0").name == "vision"
    registry.install(named("fraud", "1.1.0", "scorer"))
    error = _error(registry.rollback)
    assert error.code == "name_required" and "fraud, vision" in error.message
    assert _error(lambda: registry.activate(None, "1.1.0")).code == "name_required"
    assert registry.active() == {"fraud": "1.1.0", "vision": "1.1.0"}


def test_downgrade_is_checked_within_a_name_only(registry, named):
    registry.install(named("vision", "2.0.0", "embedder"))
    registry.install(named("fraud", "1.0.0", "scorer"))  # lower than vision's 2.0.0: another line
    error = _error(lambda: registry.install(named("vision", "1.5.0", "embedder")))
    assert error.code == "downgrade_refused" and error.status == 409 and "vision" in error.message
    assert registry.active() == {"fraud": "1.0.0", "vision": "2.0.0"}
    assert not registry.directory("vision", "1.5.0").exists()


def test_a_model_name_served_by_another_active_name_is_refused(registry, named):
    registry.install(named("vision", "1.0.0", "embedder"))
    error = _error(lambda: registry.install(named("other", "1.0.0", "embedder")))
    assert error.code == "model_collision" and error.status == 409 and "vision 1.0.0" in error.message
    assert registry.active() == {"vision": "1.0.0"} and registry.installed("other") == []
    registry.install(named("vision", "1.1.0", "embedder"))  # the same name may keep its model names


def test_activating_a_colliding_version_is_refused(registry, named):
    registry.install(named("vision", "1.0.0", "embedder"))
    registry.install(named("fraud", "1.0.0", "scorer"))
    registry.install(named("fraud", "1.1.0", "embedder"), activate=False)  # installing alone is harmless
    assert _error(lambda: registry.activate("fraud", "1.1.0")).code == "model_collision"
    assert registry.active() == {"fraud": "1.0.0", "vision": "1.0.0"}


@pytest.mark.parametrize("name, code", [(None, "missing_name"), ("", "missing_name"), ("../etc", "bad_name"),
                                        ("Vision", "bad_name"), ("state.json", "bad_name"), ("a/b", "bad_name")])
def test_a_bundle_without_a_name_or_with_an_unsafe_one_is_refused(tmp_path, name, code):
    from edge.bundles.builder import build_manifest
    from tests.builders import bundle_source

    folder = bundle_source(tmp_path / "b", name=name)
    assert _error(lambda: build_manifest(folder)).code == code
    assert not (folder / "manifest.json").exists()


def test_an_unsafe_name_in_a_signed_manifest_is_refused_at_install(registry, make_bundle, signing_key, data_dir):
    from edge.bundles.signing import sign_bundle

    folder = make_bundle("1.0.0")
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "name": "../../escape"}))
    sign_bundle(folder, signing_key)
    assert _error(lambda: registry.install(folder)).code == "bad_name"
    assert registry.active() == {} and not (data_dir / "escape").exists()


def test_models_are_looked_up_by_name_across_active_bundles(node, named):
    node.registry.install(named("vision", "1.0.0", "doubler", scale=2.0))
    node.registry.install(named("fraud", "1.0.0", "tripler", scale=3.0))
    node.watcher.refresh()
    assert run_doubler(node.model("doubler"))[0][0] == 2.0 and run_doubler(node.model("tripler"))[0][0] == 3.0
    assert node.bundle_for("tripler").name == "fraud"
    report = node.readiness()
    assert report["bundles"] == {"fraud": {"version": "1.0.0", "models": ["tripler"]},
                                 "vision": {"version": "1.0.0", "models": ["doubler"]}}
    assert report["plugins"]["greeter"]["models"] == {"doubler": {"bundle": "vision", "version": "1.0.0"}}
    old_fraud = node.bundles["fraud"]
    node.registry.install(named("vision", "1.1.0", "doubler", scale=5.0))
    node.watcher.refresh()
    assert run_doubler(node.model("doubler"))[0][0] == 5.0
    assert node.bundles["fraud"] is old_fraud, "switching one name reloads nothing of the others"


def test_cli_lists_every_name_and_needs_a_name_when_ambiguous(runner, data_dir, named, monkeypatch):
    from edge.cli.main import cli

    monkeypatch.setenv("STOREFRONT_EDGE_PLUGINS", "catalog")
    registry = BundleRegistry(data_dir)
    for name, version, model in (("vision", "1.0.0", "a"), ("vision", "1.1.0", "a"), ("fraud", "1.0.0", "b")):
        registry.install(named(name, version, model))
    run = lambda *args: runner.invoke(cli, ["--data-dir", str(data_dir), *args])  # noqa: E731
    listing = run("bundle", "list").output.splitlines()
    assert [line.split()[:3] for line in listing if line.startswith("*")] == [["*", "fraud", "1.0.0"], ["*", "vision", "1.1.0"]]
    result = run("bundle", "rollback")
    assert result.exit_code == 1 and "[name_required]" in result.output and result.output.count("\n") == 1
    assert "active: vision 1.0.0" in run("bundle", "rollback", "vision").output
    result = run("bundle", "rollback", "fraud")
    assert result.exit_code == 1 and "[no_previous]" in result.output
    assert "active: vision 1.1.0" in run("bundle", "activate", "vision", "1.1.0").output
    assert json.loads(run("bundle", "list", "--json").output)["active"] == {"fraud": "1.0.0", "vision": "1.1.0"}


def test_admin_routes_per_name(client, node, admin_headers, named, tmp_path):
    from edge.bundles import archive

    for name, version, model in (("vision", "1.0.0", "doubler"), ("vision", "1.1.0", "doubler"), ("fraud", "1.0.0", "scorer")):
        body = archive.pack(named(name, version, model), tmp_path / f"{name}-{version}.tar.gz").read_bytes()
        assert client.post("/v1/admin/bundles", data=body, headers=admin_headers, content_type="application/gzip").status_code == 201
    ambiguous = client.post("/v1/admin/bundles/rollback", headers=admin_headers)
    assert ambiguous.status_code == 422 and ambiguous.get_json()["error"]["code"] == "name_required"
    listing = client.post("/v1/admin/bundles/vision/rollback", headers=admin_headers).get_json()
    assert listing["active"] == {"fraud": "1.0.0", "vision": "1.0.0"} and listing["history"]["vision"] == []
    refused = client.post("/v1/admin/bundles/fraud/rollback", headers=admin_headers)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "no_previous"
    bad = client.post("/v1/admin/bundles/..%2Fx/1.0.0/activate", headers=admin_headers)
    assert bad.status_code in (400, 404) and "error" in bad.get_json()
    assert client.get("/readyz").get_json()["bundles"]["vision"]["version"] == "1.0.0"


def _old_layout(data_dir, folders):
    """A bundles folder as the single-bundle code left it: ``bundles/<version>/`` and ``{"active", "history"}``."""
    root = data_dir / "bundles"
    root.mkdir(parents=True)
    for folder in folders:
        version = json.loads((folder / "manifest.json").read_text())["version"]
        shutil.copytree(folder, root / version)
    return root


def test_a_single_bundle_data_folder_is_upgraded_in_place(data_dir, signing_key, named, app_config):
    from edge.app import create_app

    root = _old_layout(data_dir, [named("test-bundle", "1.0.0", "doubler"), named("test-bundle", "1.1.0", "doubler", scale=3.0)])
    (root / "state.json").write_text(json.dumps({"active": "1.1.0", "history": ["1.0.0"]}))
    app = create_app(app_config, watch=False)
    node = app.extensions["storefront_edge"]
    try:
        assert json.loads((root / "state.json").read_text()) == {
            "format": 2, "bundles": {"test-bundle": {"active": "1.1.0", "history": ["1.0.0"]}}}
        assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["state.json", "test-bundle"]
        assert run_doubler(node.model("doubler"))[0][0] == 3.0
        assert node.registry.rollback() == "1.0.0"  # the history came along
    finally:
        node.close()


def test_an_interrupted_upgrade_is_finished_on_the_next_open(data_dir, signing_key, named):
    root = _old_layout(data_dir, [named("vision", "1.0.0", "a"), named("fraud", "2.0.0", "b")])
    (root / "state.json").write_text(json.dumps({"active": "2.0.0", "history": ["1.0.0"]}))
    (root / "vision").mkdir()
    (root / "1.0.0").rename(root / "vision" / "1.0.0")  # stopped after moving one folder
    registry = BundleRegistry(data_dir)
    assert registry.state()["bundles"] == {"fraud": {"active": "2.0.0", "history": []},
                                           "vision": {"active": None, "history": ["1.0.0"]}}
    assert [(m.name, m.version) for m in registry.installed()] == [("fraud", "2.0.0"), ("vision", "1.0.0")]
    assert BundleRegistry(data_dir).state() == registry.state()  # idempotent


def test_pruning_keeps_versions_per_name(data_dir, signing_key, named):
    registry = BundleRegistry(data_dir, keep=2)
    registry.install(named("fraud", "1.0.0", "scorer"))
    registry.install(named("fraud", "1.1.0", "scorer"))
    for minor in range(5):
        registry.install(named("vision", f"2.{minor}.0", "embedder"))
    assert [(m.name, m.version) for m in registry.installed()] == [
        ("fraud", "1.0.0"), ("fraud", "1.1.0"), ("vision", "2.3.0"), ("vision", "2.4.0")]
    assert registry.line("vision")["history"][-1] == "2.3.0" and registry.rollback("vision") == "2.3.0"
