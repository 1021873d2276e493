"""``storefront-edge bundle``: build, sign, verify, install, list, activate and roll back bundles."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from ..bundles import archive
from ..bundles.builder import build_manifest
from ..bundles.manifest import check_version
from ..bundles.registry import BundleRegistry
from ..bundles.signing import load_public_key, key_id, sign_bundle, trusted_keys
from ..bundles.verify import verify_bundle
from ..paths import keys_dir, trusted_dir
from .common import Group, data_dir_of

EXISTING = click.Path(exists=True, path_type=Path)


def _registry(ctx) -> BundleRegistry:
    return BundleRegistry(data_dir_of(ctx))


def installed_plugin_names() -> set:
    """Plugins installed in this environment (what a bundle may require)."""
    from ..plugin_host import PluginHost

    host = PluginHost()
    host.load()
    return {p.name for p in host.usable()}


@click.group(cls=Group)
def bundle():
    """Model bundles: a folder or .tar.gz with manifest.json and its Ed25519 signature."""


@bundle.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def build(directory):
    """Write DIRECTORY/manifest.json from its bundle.json and model files."""
    manifest = build_manifest(directory)
    click.echo(f"built {manifest['name']} {manifest['version']}: {len(manifest['files'])} files, models {', '.join(manifest['models']) or 'none'}")


@bundle.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--key", type=EXISTING, help="Private key (PEM). Default: <data dir>/keys/signing.key")
@click.option("--archive", "archive_path", type=click.Path(dir_okay=False, path_type=Path), help="Also pack the signed bundle into this .tar.gz.")
@click.pass_context
def sign(ctx, directory, key, archive_path):
    """Sign DIRECTORY/manifest.json (writes manifest.sig)."""
    signature = sign_bundle(directory, key or keys_dir(data_dir_of(ctx)) / "signing.key")
    click.echo(f"signed: {signature}")
    if archive_path:
        click.echo(f"packed: {archive.pack(directory, archive_path)}")


@bundle.command()
@click.argument("path", type=EXISTING)
@click.option("--pubkey", type=EXISTING, multiple=True, help="Trust this public key (repeatable). Default: the node's trusted keys.")
@click.pass_context
def verify(ctx, path, pubkey):
    """Check PATH's signature and every file's sha256 (a folder or .tar.gz)."""
    keys = {key_id(k): k for k in map(load_public_key, pubkey)} if pubkey else trusted_keys(trusted_dir(data_dir_of(ctx)))
    with tempfile.TemporaryDirectory() as tmp:
        folder = path
        if path.is_file():
            folder = Path(tmp)
            archive.extract(path, folder, 1 << 30, 10_000)
        manifest, signer = verify_bundle(folder, keys)
    click.echo(f"OK {manifest.name} {manifest.version}: {len(manifest.files)} files verified, signed by {signer}")


@bundle.command()
@click.argument("path", type=EXISTING)
@click.option("--allow-downgrade", is_flag=True, help="Accept a version lower than the active one.")
@click.option("--activate/--no-activate", default=True, show_default=True, help="Switch to it once installed.")
@click.pass_context
def install(ctx, path, allow_downgrade, activate):
    """Verify, stage, warm up and (by default) activate the bundle at PATH."""
    result = _registry(ctx).install(path, allow_downgrade=allow_downgrade, activate=activate,
                                    available_plugins=installed_plugin_names())
    state = "already installed" if result.already_installed else "installed"
    click.echo(f"{state} {result.name} {result.version}" + (", active" if result.activated else ""))


@bundle.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (each name's active version and history, every installed bundle).")
@click.pass_context
def list_bundles(ctx, as_json):
    """List installed bundles of every name; each name's active version is marked with '*'."""
    listing = _registry(ctx).listing()
    if as_json:
        click.echo(json.dumps(listing))
        return
    for b in listing["bundles"]:
        click.echo(f"{'*' if b['active'] else ' '} {b['name']:<24} {b['version']:<12} {b['created']}  models: {', '.join(b['models'])}")
    if not listing["bundles"]:
        click.echo("no bundles installed", err=True)


@bundle.command()
@click.argument("name_or_version")
@click.argument("version", required=False)
@click.pass_context
def activate(ctx, name_or_version, version):
    """Activate an installed bundle: NAME VERSION, or VERSION alone when one bundle name has it (verified again first)."""
    name, version = (name_or_version, version) if version else (None, name_or_version)
    check_version(version)
    manifest = _registry(ctx).activate(name, version)
    click.echo(f"active: {manifest.name} {manifest.version}")


@bundle.command()
@click.argument("name", required=False)
@click.pass_context
def rollback(ctx, name):
    """Re-activate the previous version of bundle NAME (NAME may be left out when one name is active)."""
    registry = _registry(ctx)
    name = name or registry.only_name(registry.active())
    click.echo(f"active: {name} {registry.rollback(name)}")
