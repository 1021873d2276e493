"""Hostile bundles: tar layouts, signature records of the wrong types, manifests nested or sized past their
limits, over-long versions. Each is a 4xx JSON error over HTTP and one line with exit 1 from the CLI,
never a server path, and the active bundle keeps serving."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from edge.bundles import archive
from edge.cli.main import cli


def _member(name: str, kind=tarfile.REGTYPE, data: bytes | None = b"x"):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE and data else 0
    return info, (data if kind == tarfile.REGTYPE else None)


def _tar(path, members):
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


LAYOUTS = {
    "a folder x then a file x": [_member("x", tarfile.DIRTYPE), _member("x")],
    "a file x then a folder x": [_member("x"), _member("x", tarfile.DIRTYPE)],
    "a file y then y/z": [_member("y"), _member("y/z")],
    "a file given twice": [_member("a"), _member("a")],
    "a member named .": [_member(".")],
    "a member named ./": [_member("./", tarfile.DIRTYPE)],
    "a 300-character name": [_member("n" * 300)],
    "a 300-character folder path": [_member("/".join(["d" * 50] * 6))],
    "an empty name": [_member("")],
}


@pytest.fixture
def hostile(tmp_path):
    """Factory: a hostile archive for a layout name."""
    return lambda case: _tar(tmp_path / "hostile.tar.gz", LAYOUTS[case])


@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_hostile_tar_layouts_are_4xx_over_http(client, installed, admin_headers, hostile, data_dir, case):
    response = client.post("/v1/admin/bundles", data=hostile(case).read_bytes(), headers=admin_headers,
                           content_type="application/gzip")
    assert 400 <= response.status_code < 500 and response.mimetype == "application/json", response.data
    assert str(data_dir) not in response.get_data(as_text=True)
    assert client.get("/v1/admin/bundles", headers=admin_headers).get_json()["active"] == {"test-bundle": "1.0.0"}
    assert not list((data_dir / "bundles").glob(".staging-*"))


@pytest.mark.parametrize("command", ["verify", "install"])
@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_hostile_tar_layouts_are_one_line_from_the_cli(runner, data_dir, hostile, command, case, monkeypatch):
    monkeypatch.setenv("STOREFRONT_EDGE_PLUGINS", "catalog")
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "bundle", command, str(hostile(case))])
    assert result.exit_code == 1 and result.output.startswith("Error:") and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output and str(data_dir) not in result.output


def _resigned(folder, **record):
    signature = json.loads((folder / "manifest.sig").read_text())
    (folder / "manifest.sig").write_text(json.dumps({**signature, **record}))
    return folder


SIGNATURES = {
    "signature is a number": {"signature": 12345},
    "signature is a list": {"signature": ["a"]},
    "signature is not base64": {"signature": "!!!"},
    "key_id is a list": {"key_id": ["abc"]},
    "key_id is an object": {"key_id": {"a": 1}},
    "key_id is a number": {"key_id": 7},
    "algorithm is missing": {"algorithm": None},
}


@pytest.mark.parametrize("case", sorted(SIGNATURES))
def test_signature_records_of_the_wrong_types_are_refused(client, installed, admin_headers, make_bundle, tmp_path, case):
    folder = _resigned(make_bundle("1.1.0"), **SIGNATURES[case])
    packed = archive.pack(folder, tmp_path / "b.tar.gz").read_bytes()
    response = client.post("/v1/admin/bundles", data=packed, headers=admin_headers, content_type="application/gzip")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "bad_signature"
    assert client.get("/v1/admin/bundles", headers=admin_headers).get_json()["active"] == {"test-bundle": "1.0.0"}


@pytest.mark.parametrize("file, content", [
    ("manifest.sig", b"[" * 10_000 + b"]" * 10_000),
    ("manifest.json", b"[" * 10_000 + b"]" * 10_000),
    ("manifest.json", b'{"a": ' * 50 + b"1" + b"}" * 50),
    ("manifest.sig", b'{"algorithm": "ed25519", "pad": "' + b"x" * 20_000 + b'"}'),
    ("manifest.json", b'{"name": NaN}'),
])
def test_manifest_files_nested_or_sized_past_their_limits_are_refused(installed, make_bundle, file, content):
    folder = make_bundle("1.1.0")
    (folder / file).write_bytes(content)
    with pytest.raises(Exception) as refused:
        installed.registry.install(folder)
    assert getattr(refused.value, "status", 500) in (400, 422), refused.value
    assert installed.registry.active_version() == "1.0.0"


def test_a_version_of_3000_characters_is_refused(client, installed, admin_headers, runner, data_dir):
    response = client.post(f"/v1/admin/bundles/1.0.0-{'a' * 3000}/activate", headers=admin_headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_version"
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "bundle", "activate", "1.0.0-" + "a" * 3000])
    assert result.exit_code == 1 and "[bad_version]" in result.output and result.output.count("\n") == 1


def test_the_413_of_a_bundle_upload_names_the_bundle_limit(app_config, admin_headers):
    from edge.app import create_app

    app = create_app({**app_config, "MAX_BUNDLE_BYTES": 20_000}, watch=False)
    try:
        response = app.test_client().post("/v1/admin/bundles", data=b"\0" * 30_000, headers=admin_headers,
                                          content_type="application/gzip")
        assert response.status_code == 413 and "20000 bytes" in response.get_json()["error"]["message"]
    finally:
        app.extensions["storefront_edge"].close()


def test_a_failed_warm_up_does_not_show_the_staging_path(client, installed, admin_headers, make_bundle, tmp_path,
                                                         signing_key, data_dir):
    """A model that passes its hash check but will not load: onnxruntime names the file it read."""
    from edge.bundles.builder import sha256_file
    from edge.bundles.signing import sign_bundle

    folder = make_bundle("1.2.0")
    manifest = json.loads((folder / "manifest.json").read_text())
    model = folder / manifest["models"]["doubler"]["file"]
    model.write_bytes(model.read_bytes()[:-40])
    for entry in manifest["files"]:
        if entry["path"] == manifest["models"]["doubler"]["file"]:
            entry.update(sha256=sha256_file(model), size=model.stat().st_size)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    sign_bundle(folder, signing_key)
    packed = archive.pack(folder, tmp_path / "broken.tar.gz").read_bytes()
    response = client.post("/v1/admin/bundles", data=packed, headers=admin_headers, content_type="application/gzip")
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (422, "warmup_failed")
    assert str(data_dir) not in error["message"] and ".staging-" not in error["message"], error["message"]
