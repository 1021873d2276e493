"""Bundles: build, sign, verify, and an install that refuses every kind of tampering without touching the active one."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from edge.bundles import archive
from edge.bundles.errors import BundleError
from edge.bundles.manifest import semver_key
from edge.bundles.registry import BundleRegistry
from edge.bundles.signing import generate_keypair
from tests.builders import run_doubler


@pytest.fixture
def registry(data_dir, signing_key) -> BundleRegistry:
    return BundleRegistry(data_dir, max_bytes=5 * 1024 * 1024, max_members=50)


def _error(call) -> BundleError:
    with pytest.raises(BundleError) as info:
        call()
    return info.value


def _tar(path, members):
    """Write a .tar.gz with hand-made members: (TarInfo, bytes or None)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _assert_unchanged(registry, version="1.0.0"):
    assert registry.active_version() == version
    assert not list(registry.root.glob(".staging-*"))


def test_manifest_lists_files_signatures_and_metrics(make_bundle):
    folder = make_bundle("1.2.3")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == "1.2.3"
    assert {f["path"] for f in manifest["files"]} == {"doubler.onnx", "bundle.json"}
    assert manifest["models"]["doubler"]["inputs"] == [{"name": "x", "dtype": "float32", "shape": [None, 4]}]
    assert manifest["metrics"] == {"scale": 2.0}


def test_install_activates_and_rolls_back(registry, make_bundle):
    registry.install(make_bundle("1.0.0"))
    registry.install(make_bundle("1.1.0", scale=3.0))
    assert registry.active_version() == "1.1.0"
    assert registry.rollback() == "1.0.0"
    assert registry.state() == {"format": 2, "bundles": {"test-bundle": {"active": "1.0.0", "history": []}}}
    assert _error(registry.rollback).code == "no_previous"


def test_install_from_archive(registry, make_bundle, tmp_path):
    packed = archive.pack(make_bundle("2.0.0"), tmp_path / "b.tar.gz")
    result = registry.install(packed)
    assert (result.version, result.activated, result.already_installed) == ("2.0.0", True, False)
    assert registry.install(packed).already_installed is True


@pytest.mark.parametrize("tamper, code", [
    (lambda f: (f / "doubler.onnx").write_bytes((f / "doubler.onnx").read_bytes()[:-1] + b"\x00"), "hash_mismatch"),
    (lambda f: (f / "doubler.onnx").unlink(), "missing_file"),
    (lambda f: (f / "extra.bin").write_bytes(b"x"), "unlisted_file"),
    (lambda f: (f / "manifest.json").write_text((f / "manifest.json").read_text().replace("1.5.0", "9.9.9")), "bad_signature"),
    (lambda f: (f / "manifest.sig").unlink(), "unsigned"),
])
def test_tampered_bundle_is_refused_and_active_keeps_serving(registry, make_bundle, tamper, code):
    registry.install(make_bundle("1.0.0"))
    folder = make_bundle("1.5.0")
    tamper(folder)
    assert _error(lambda: registry.install(folder)).code == code
    _assert_unchanged(registry)


def test_bundle_signed_by_an_untrusted_key_is_refused(registry, make_bundle, tmp_path):
    stranger, _ = generate_keypair(tmp_path / "stranger")
    registry.install(make_bundle("1.0.0"))
    assert _error(lambda: registry.install(make_bundle("1.1.0", key=stranger))).code == "untrusted_key"
    _assert_unchanged(registry)


def test_downgrade_refused_unless_forced(registry, make_bundle):
    registry.install(make_bundle("2.0.0"))
    older = make_bundle("1.9.9")
    error = _error(lambda: registry.install(older))
    assert (error.code, error.status) == ("downgrade_refused", 409)
    assert registry.active_version() == "2.0.0"
    registry.install(older, allow_downgrade=True)
    assert registry.active_version() == "1.9.9"


def test_same_version_with_other_content_conflicts(registry, make_bundle):
    registry.install(make_bundle("1.0.0"))
    assert _error(lambda: registry.install(make_bundle("1.0.0", scale=5.0))).code == "version_conflict"


def test_missing_plugin_requirement_is_refused(registry, make_bundle):
    folder = make_bundle("1.0.0", plugins=["voice"])
    assert _error(lambda: registry.install(folder, available_plugins={"catalog"})).code == "missing_plugin"
    assert registry.active_version() is None


def test_builder_refuses_a_file_that_is_not_a_model(registry, make_bundle):
    from edge.bundles.builder import build_manifest

    registry.install(make_bundle("1.0.0"))
    folder = make_bundle("1.1.0")
    (folder / "doubler.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(BundleError) as info:
        build_manifest(folder)  # the builder loads each model to read its signature
    assert info.value.code == "bad_model"
    _assert_unchanged(registry)


def test_golden_outputs_are_checked_at_install(registry, tmp_path, signing_key):
    from edge.bundles.builder import build_manifest
    from edge.bundles.signing import sign_bundle
    from tests.builders import bundle_source, write_golden

    def bundle(version, golden_scale):
        folder = bundle_source(tmp_path / version, version, scale=2.0)
        golden = write_golden(folder, golden_scale)
        (folder / "bundle.json").write_text(json.dumps({"name": "g", "version": version, "models": {
            "doubler": {"file": "doubler.onnx", "golden": golden}}}))
        build_manifest(folder)
        sign_bundle(folder, signing_key)
        return folder

    registry.install(bundle("1.0.0", golden_scale=2.0))
    error = _error(lambda: registry.install(bundle("1.1.0", golden_scale=2.5)))
    assert error.code == "warmup_failed" and "golden" in error.message
    _assert_unchanged(registry)


@pytest.mark.parametrize("name, kind, code", [
    ("../escape.txt", tarfile.REGTYPE, "path_traversal"),
    ("/etc/evil.txt", tarfile.REGTYPE, "path_traversal"),
    ("dir/../../escape.txt", tarfile.REGTYPE, "path_traversal"),
    ("link", tarfile.SYMTYPE, "unsafe_member"),
    ("hard", tarfile.LNKTYPE, "unsafe_member"),
    ("dev", tarfile.CHRTYPE, "unsafe_member"),
    ("fifo", tarfile.FIFOTYPE, "unsafe_member"),
])
def test_unsafe_archive_members_are_refused(registry, make_bundle, tmp_path, name, kind, code):
    registry.install(make_bundle("1.0.0"))
    info = tarfile.TarInfo(name)
    info.type = kind
    data = b"payload" if kind == tarfile.REGTYPE else None
    info.size = len(data) if data else 0
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "/etc/passwd"
    bad = _tar(tmp_path / "bad.tar.gz", [(info, data)])
    assert _error(lambda: registry.install(bad)).code == code
    assert not (tmp_path / "escape.txt").exists() and not (registry.root.parent / "escape.txt").exists()
    _assert_unchanged(registry)


def test_decompression_bomb_is_refused(registry, make_bundle, tmp_path):
    registry.install(make_bundle("1.0.0"))
    zeros = tmp_path / "zeros.bin"
    with open(zeros, "wb") as handle:
        handle.truncate(6 * 1024 * 1024)  # compresses to a few KB, over the 5 MB limit
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tar:
        tar.add(zeros, arcname="zeros.bin")
    assert os.path.getsize(bomb) < 100_000
    error = _error(lambda: registry.install(bomb))
    assert (error.code, error.status) == ("too_large", 413)
    _assert_unchanged(registry)


def test_too_many_members_are_refused(registry, tmp_path):
    members = []
    for i in range(60):
        info = tarfile.TarInfo(f"f{i}")
        info.size = 1
        members.append((info, b"x"))
    assert _error(lambda: registry.install(_tar(tmp_path / "many.tar.gz", members))).code == "too_many_members"


@pytest.mark.parametrize("content", [b"", b"\x1f\x8b\x08garbage", b"plain text, not gzip"])
def test_truncated_or_garbage_archive_is_refused(registry, content, tmp_path):
    path = tmp_path / "junk.tar.gz"
    path.write_bytes(content)
    assert _error(lambda: registry.install(path)).code in {"bad_archive", "missing_manifest"}


def test_truncated_real_archive_is_refused(registry, make_bundle, tmp_path):
    packed = archive.pack(make_bundle("1.0.0"), tmp_path / "b.tar.gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])
    assert _error(lambda: registry.install(cut)).code == "bad_archive"
    assert registry.active_version() is None


def test_symlink_in_bundle_folder_is_refused(registry, make_bundle):
    folder = make_bundle("1.0.0")
    os.symlink("/etc/passwd", folder / "passwd")
    assert _error(lambda: registry.install(folder)).code == "unsafe_member"


def test_activate_verifies_again(registry, make_bundle):
    registry.install(make_bundle("1.0.0"))
    registry.install(make_bundle("1.1.0"))
    (registry.directory("test-bundle", "1.0.0") / "doubler.onnx").write_bytes(b"changed on disk")
    assert _error(lambda: registry.activate("test-bundle", "1.0.0")).code == "hash_mismatch"
    assert registry.active_version() == "1.1.0"
    assert _error(lambda: registry.activate(None, "7.0.0")).code == "not_installed"
    assert _error(lambda: registry.activate("test-bundle", "7.0.0")).code == "not_installed"


def test_old_versions_are_pruned_but_active_and_previous_kept(data_dir, signing_key, make_bundle):
    registry = BundleRegistry(data_dir, keep=2)
    for minor in range(5):
        registry.install(make_bundle(f"1.{minor}.0"))
    assert [m.version for m in registry.installed()] == ["1.3.0", "1.4.0"]
    registry.rollback()
    assert registry.active_version() == "1.3.0"


def test_semver_ordering():
    ordered = ["0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]
    assert sorted(reversed(ordered), key=semver_key) == ordered
    with pytest.raises(BundleError):
        semver_key("1.0")


def test_watcher_swaps_models_and_keeps_old_one_for_inflight_work(node, make_bundle):
    node.registry.install(make_bundle("1.0.0", scale=2.0))
    node.watcher.refresh()
    old = node.bundle_for("doubler")
    node.registry.install(make_bundle("1.1.0", scale=3.0))
    assert node.watcher.refresh() is True
    assert run_doubler(node.model("doubler"))[0][0] == 3.0
    assert run_doubler(old.model("doubler"))[0][0] == 2.0  # a request that started before still finishes


def test_repeated_install_activate_cycles_do_not_grow_memory(node, make_bundle):
    def rss_mb() -> float:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6

    folders = [make_bundle("1.0.0"), make_bundle("1.1.0", scale=3.0)]
    node.registry.install(folders[0])
    node.registry.install(folders[1])

    def cycles(count):
        for i in range(count):
            node.registry.activate("test-bundle", ["1.0.0", "1.1.0"][i % 2])
            node.watcher._seen = None
            node.watcher.refresh()
            run_doubler(node.model("doubler"))

    cycles(20)
    baseline = rss_mb()
    cycles(100)
    assert rss_mb() - baseline < 15, "memory grows with every activation"


def test_staging_is_cleaned_after_failure(registry, make_bundle):
    folder = make_bundle("1.0.0")
    (folder / "manifest.sig").unlink()
    assert _error(lambda: registry.install(folder)).code == "unsigned"
    assert not list(registry.root.glob(".staging-*"))
    assert not registry.directory("test-bundle", "1.0.0").exists()
