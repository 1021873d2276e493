"""``storefront-edge keys``: signing keys and the keys this node trusts."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from ..bundles.signing import generate_keypair, key_id, load_public_key, trusted_keys
from ..paths import keys_dir, trusted_dir
from .common import Group, data_dir_of


@click.group(cls=Group)
def keys():
    """Manage Ed25519 keys: generate a signing pair, trust public keys."""


@keys.command()
@click.option("--name", default="signing", show_default=True, help="File name stem of the pair.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for the pair. Default: <data dir>/keys")
@click.option("--trust/--no-trust", default=True, show_default=True, help="Also trust the new public key on this node.")
@click.pass_context
def generate(ctx, name, out, trust):
    """Generate an Ed25519 key pair for signing bundles."""
    data = data_dir_of(ctx)
    private, public = generate_keypair(out or keys_dir(data), name)
    if trust:
        _trust(public, data)
    click.echo(f"private key: {private} (keep it secret)\npublic key:  {public}\nkey id:      {key_id(load_public_key(public))}")


def _trust(public: Path, data: Path) -> Path:
    key = load_public_key(public)
    target = trusted_dir(data) / f"{key_id(key)}.pub"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(public, target)
    return target


@keys.command()
@click.argument("public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def trust(ctx, public_key):
    """Trust PUBLIC_KEY (PEM) for bundle signatures on this node."""
    click.echo(f"trusted {_trust(public_key, data_dir_of(ctx))}")


@keys.command(name="list")
@click.pass_context
def list_keys(ctx):
    """List the key ids this node trusts."""
    found = trusted_keys(trusted_dir(data_dir_of(ctx)))
    for kid in found:
        click.echo(kid)
    if not found:
        click.echo("no trusted keys: run 'storefront-edge keys generate' or 'keys trust FILE'", err=True)
