"""The plugin's commands: ``storefront-edge recommend train|evaluate|export-events`` and
``storefront-edge hub train recommend`` (the hub's event log of one group to a signed bundle).

Progress goes to stderr; ``evaluate`` prints one JSON object to stdout. Training needs the
``convert`` extra (torch); the node needs neither.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from edge.api import hub_options, open_hub_store, open_node

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _training_options(command):
    command = click.option("--seconds", default=300.0, show_default=True, type=click.FloatRange(1, 86_400),
                           help="Time budget of the sequential model's training.")(command)
    return click.option("--epochs", default=40, show_default=True, type=click.IntRange(1, 1000),
                        help="Most epochs of the sequential model.")(command)


@click.group("recommend")
def recommend_group():
    """Recommendations: train the storefront-recs bundle, evaluate the recommenders, export events."""


@recommend_group.command("train")
@click.option("--events", "events_csv", required=True, type=EXISTING_FILE,
              help="DIGINETICA item views (;) or an event export (recommend export-events).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Bundle folder to write (built; signed with --sign-key).")
@click.option("--version", "version", default="1.0.0", show_default=True, help="Bundle version.")
@click.option("--sign-key", type=EXISTING_FILE, help="Private key (PEM) to sign the bundle with.")
@_training_options
def train_command(events_csv, out_dir, version, sign_key, seconds, epochs):
    """Train every recommender on EVENTS and write the storefront-recs bundle to OUT."""
    from converters.recommend.events import read_sessions
    from converters.recommend.train import fit, write_bundle

    sessions = read_sessions(events_csv)
    if not sessions:
        raise click.ClickException(f"{events_csv.name} holds no commerce sessions")
    print(f"read {len(sessions)} sessions", file=sys.stderr)
    tables, model, summary = fit(sessions, seconds=seconds, epochs=epochs)
    manifest = write_bundle(tables, model, summary, out_dir, version, sign_key)
    click.echo(f"built {manifest['name']} {manifest['version']} in {out_dir}: {len(tables.items)} items"
               f"{', signed' if sign_key else ' (unsigned: bundle sign it)'}")


@recommend_group.command("evaluate")
@click.option("--train", "train_csv", required=True, type=EXISTING_FILE, help="Training events (CSV).")
@click.option("--test", "test_csv", required=True, type=EXISTING_FILE, help="Test events (CSV), later than the training ones.")
@click.option("--k", default=20, show_default=True, type=click.IntRange(1, 1000), help="Length of the lists scored.")
@_training_options
def evaluate_command(train_csv, test_csv, k, seconds, epochs):
    """Train on TRAIN, predict each next item of every TEST session; print every recommender's figures as JSON."""
    from converters.recommend.evaluate import build_cases, evaluate_all, test_prefixes
    from converters.recommend.events import read_sessions
    from converters.recommend.reranker import OnnxScorer
    from converters.recommend.train import fit

    train_sessions, test_sessions = read_sessions(train_csv), read_sessions(test_csv)
    if not train_sessions:
        raise click.ClickException(f"{train_csv.name} holds no commerce sessions")
    tables, model, _ = fit(train_sessions, k=k, seconds=seconds, epochs=epochs)
    cases = build_cases(tables, model, test_prefixes(test_sessions, tables.index))
    predict = OnnxScorer(tables.reranker) if tables.reranker else None  # the bundle's file, as the node runs it
    click.echo(json.dumps(evaluate_all(tables, cases, k, tables.params.weights, tables.params.long_tail_alpha,
                                        tables.params.long_tail_bonus, predict)))


@recommend_group.command("export-events")
@click.option("--out", "out_csv", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV to write.")
@click.pass_context
def export_events(ctx, out_csv):
    """Write this node's events as an event export CSV (what train and evaluate read)."""
    from converters.recommend.events import write_export

    node = open_node(ctx)
    try:
        count = write_export(node.db()["events"].rows_where(order_by="id"), out_csv)
    finally:
        node.close()
    click.echo(f"exported {count} events to {out_csv}")


@recommend_group.command("synthetic-events")
@click.option("--catalog", "catalog_csv", required=True, type=EXISTING_FILE, help="Catalog CSV (sku, category columns).")
@click.option("--out", "out_csv", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV to write.")
@click.option("--sessions", default=3000, show_default=True, type=click.IntRange(1, 10_000_000), help="How many sessions.")
@click.option("--seed", default=7, show_default=True, type=int, help="Random seed.")
def synthetic_events(catalog_csv, out_csv, sessions, seed):
    """Write synthetic shopper sessions over CATALOG as an event export (what the demo bundle is trained on)."""
    from converters.recommend.events import write_export
    from converters.recommend.synthetic import catalog_categories, synthetic_rows

    count = write_export(synthetic_rows(catalog_categories(catalog_csv), sessions=sessions, seed=seed), out_csv)
    click.echo(f"wrote {count} synthetic events to {out_csv}")


@click.group("hub")
def hub_group():
    """(The recommendations plugin's hub commands.)"""


@hub_group.group("train")
def hub_train():
    """Train a plugin's models on the hub's event log and build their bundle."""


@hub_train.command("recommend")
@click.option("--group", "group", required=True, help="Train on the events of this group's nodes.")
@click.option("--publish", is_flag=True, help="Also publish the bundle to the group (roll it out).")
@click.option("--key", "sign_key", type=EXISTING_FILE, help="Private key (PEM). Default: <hub dir>/keys/signing.key")
@click.option("--version", "version", help="Bundle version. Default: 1.<unix time>.0")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Bundle folder. Default: <hub dir>/recs-build/<version>")
@_training_options
@hub_options
def hub_train_recommend(group, publish, sign_key, version, out_dir, seconds, epochs, hub_dir, database_url):
    """Train storefront-recs on the events of GROUP's nodes, build and sign it (and with --publish roll it out)."""
    from converters.recommend.events import export_event, sessions_from_events
    from converters.recommend.train import fit, write_bundle

    sign_key = sign_key or Path(hub_dir) / "keys" / "signing.key"
    if not sign_key.is_file():
        raise click.ClickException(f"no signing key at {sign_key}: pass --key")
    store = open_hub_store(hub_dir, database_url)
    try:
        members = {n["name"] for n in store.nodes() if n.get("grp") == group}
        if not members:
            raise click.ClickException(f"no node is registered in group '{group}'")
        started = time.monotonic()
        events = (export_event(row) for row in store.rows("events") if row.get("origin") in members)
        sessions = sessions_from_events(e for e in events if e is not None)
        if not sessions:
            raise click.ClickException(f"the nodes of group '{group}' have sent no commerce events yet")
        print(f"read {len(sessions)} sessions of group {group} in {time.monotonic() - started:.1f} s", file=sys.stderr)
        tables, model, summary = fit(sessions, seconds=seconds, epochs=epochs)
        version = version or f"1.{int(time.time())}.0"
        out_dir = out_dir or Path(hub_dir) / "recs-build" / version
        manifest = write_bundle(tables, model, {**summary, "group": group}, out_dir, version, sign_key)
        click.echo(f"built {manifest['name']} {version} in {out_dir}: {len(tables.items)} items, "
                   f"{summary['events']} events in {time.monotonic() - started:.1f} s")
        if publish:
            record = store.publish_bundle(out_dir, group)
            click.echo(f"published {record['name']} {record['version']} ({record['digest'][:12]}) to group {group}")
    finally:
        store.close()
