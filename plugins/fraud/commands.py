"""The fraud plugin's commands: ``storefront-edge fraud ...`` on a node or workstation, ``storefront-edge hub
fraud ...`` and ``storefront-edge hub train fraud`` on the hub.

Progress goes to stderr; results (JSON, tables) to stdout. Every failure is one line and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

from edge.api import checked_publication, hub_options, open_hub_store, open_node


def _progress(message) -> None:
    click.echo(str(message), err=True)


@contextlib.contextmanager
def _one_line():
    """Turn any failure into one ``error:`` line and exit 1 (click's own errors pass through)."""
    from .rules import RuleSetError

    try:
        yield
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except RuleSetError as exc:
        for error in exc.errors:
            click.echo(f"  {error}", err=True)
        raise click.ClickException(f"rules refused ({len(exc.errors)} error(s)); the active rules keep running") from None
    except Exception as exc:  # noqa: BLE001 - one line for the user
        message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
        raise click.ClickException(message.splitlines()[0]) from None


FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


@click.group("fraud")
def fraud_group():
    """Fraud prechecks: train and evaluate models, backtest and install rules."""


@fraud_group.command("train")
@click.option("--csv", "csv_path", type=FILE, help="Training data in the ULB credit-card format (Time, V1..V28, Amount, Class).")
@click.option("--stream", is_flag=True, help="Train on the synthetic payment stream (velocity and graph features) instead.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Bundle folder to write.")
@click.option("--version", "version", default="1.0.0", show_default=True, help="The bundle's version.")
@click.option("--rules", "rules_file", type=FILE, help="A rule file to ship in the bundle (checked first).")
@click.option("--sign-key", type=FILE, help="Sign the bundle with this private key.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--epochs", default=60, show_default=True, type=click.IntRange(1, 10_000), help="Autoencoder epochs.")
@click.option("--trees", default=200, show_default=True, type=click.IntRange(1, 2000), help="Isolation Forest trees.")
def train_command(csv_path, stream, out_dir, version, rules_file, sign_key, seed, epochs, trees):
    """Train the Isolation Forest, autoencoder and gradient boosting models into a storefront-fraud bundle."""
    import tempfile

    from converters.fraud.bundle import write_bundle
    from converters.fraud.pipeline import train_stream, train_ulb
    from converters.fraud.stream import StreamParams, describe

    if bool(csv_path) == bool(stream):
        raise click.UsageError("give exactly one of --csv FILE and --stream")
    with _one_line(), tempfile.TemporaryDirectory(prefix="fraud-train-") as work:
        if rules_file is not None:
            from .rules import load_file

            load_file(rules_file)
        if stream:
            trained = train_stream(Path(work), StreamParams(seed=seed + 7), _progress, seed, epochs, trees)
            recipe = {"data": describe(StreamParams(seed=seed + 7)), "command": "storefront-edge fraud train --stream"}
        else:
            trained = train_ulb(csv_path, Path(work), _progress, seed, epochs, trees)
            recipe = {"data": f"ULB credit-card CSV {csv_path.name}", "command": "storefront-edge fraud train --csv"}
        manifest = write_bundle(out_dir, trained, version, metrics={"trained_on": trained["spec"]["trained_on"]},
                                recipe=recipe, rules_file=rules_file, sign_key=sign_key)
    click.echo(f"wrote {manifest['name']} {manifest['version']} to {out_dir}" + ("" if sign_key else " (unsigned)"))


@fraud_group.command("evaluate")
@click.option("--train", "train_csv", required=True, type=FILE, help="ULB-format CSV to train on.")
@click.option("--test", "test_csv", required=True, type=FILE, help="ULB-format CSV to score.")
@click.option("--review-threshold", type=click.FloatRange(0, 100), help="Default: the plugin's configured one.")
@click.option("--block-threshold", type=click.FloatRange(0, 100), help="Default: the plugin's configured one.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--epochs", default=60, show_default=True, type=click.IntRange(1, 10_000), help="Autoencoder epochs.")
@click.option("--trees", default=200, show_default=True, type=click.IntRange(1, 2000), help="Isolation Forest trees.")
def evaluate_command(train_csv, test_csv, review_threshold, block_threshold, seed, epochs, trees):
    """Train on --train, score --test; print one JSON object (anomaly, supervised, decision_chain, ...)."""
    from converters.fraud.pipeline import evaluate_ulb, thresholds_of

    with _one_line():
        result = evaluate_ulb(train_csv, test_csv, _progress, thresholds_of(review_threshold, block_threshold), seed, epochs,
                              trees)
    click.echo(json.dumps(result, sort_keys=True))


@fraud_group.command("backtest")
@click.option("--rules", "rules_file", required=True, type=FILE, help="Rule file (YAML or JSON).")
@click.option("--csv", "csv_path", required=True, type=FILE, help="Transactions: timestamp, amount, currency, account_id, "
              "card_hash, device_id, ip, email, item_count, label (1 = fraud).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def backtest_command(rules_file, csv_path, as_json):
    """Replay transactions in time order through a rule set (velocity and graph included); print the confusion
    table and what each rule caught."""
    from .backtest import backtest, render

    with _one_line():
        from .rules import load_file

        report = backtest(load_file(rules_file), csv_path)
    click.echo(json.dumps(report, sort_keys=True) if as_json else render(report))


@fraud_group.group("rules")
def rules_group():
    """This node's rule set."""


@rules_group.command("check")
@click.argument("path", type=FILE)
def rules_check(path):
    """Compile a rule file and list every error (nothing is installed)."""
    from .rules import load_file

    with _one_line():
        ruleset = load_file(path)
    click.echo(f"{path.name}: {len(ruleset.rules)} rules, version {ruleset.version or '-'}")


@rules_group.command("install")
@click.argument("path", type=FILE)
@click.pass_context
def rules_install(ctx, path):
    """Install a rule file on this (standalone) node, replacing its rules; a file with any error is refused whole."""
    from edge.api import write_transaction

    from .rules import load_file, parse_text, table_rows

    with _one_line():
        load_file(path)
        rows = table_rows(parse_text(path.read_text(encoding="utf-8"), path.name))
        node = open_node(ctx)
        try:
            db = node.db()
            with write_transaction(db):
                db.execute("DELETE FROM fraud_rules")
                db["fraud_rules"].insert_all(rows)
        finally:
            node.close()
    click.echo(f"installed {len(rows)} rules from {path.name}")


@click.group("hub")
def hub_group():
    """Hub commands of the fraud plugin."""


@hub_group.group("fraud")
def hub_fraud():
    """Fraud on the hub: analysts' verdicts, rules and lists for every edge."""


@hub_fraud.command("label")
@click.argument("decision_id")
@click.option("--verdict", required=True, type=click.Choice(["fraud", "legit"]), help="The analyst's verdict.")
@click.option("--analyst", default="", help="Who decided.")
@click.option("--note", default="", help="Why.")
@hub_options
def hub_label(decision_id, verdict, analyst, note, hub_dir, database_url):
    """Record an analyst's verdict on a logged decision (published to every edge as fraud_labels)."""
    from .labels import label_decision

    with _one_line():
        row = label_decision(open_hub_store(hub_dir, database_url), decision_id, verdict, analyst, note)
    click.echo(f"labelled {row['decision_id']} {row['verdict']}")


@hub_fraud.command("rules")
@click.argument("path", type=FILE)
@hub_options
def hub_rules(path, hub_dir, database_url):
    """Publish a rule file to every edge (checked first: a file with any error is refused whole)."""
    from .labels import publish_rules

    with _one_line():
        result = publish_rules(open_hub_store(hub_dir, database_url), path)
    click.echo(f"published {result['upserted']} rules ({result['deleted']} removed)")


@hub_group.group("train")
def hub_train():
    """Retrain models on the hub from what the edges sent."""


@hub_train.command("fraud")
@click.option("--group", "group", required=True, help="Roll the new bundle out to this group.")
@click.option("--publish", is_flag=True, help="Publish the new bundle to the group (else only write it).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Bundle folder (default: <hub dir>/fraud-train/<version>).")
@click.option("--sign-key", required=True, type=FILE, help="Private key that signs the bundle.")
@click.option("--version", "version", help="Default: the group's current storefront-fraud version, patch + 1.")
@click.option("--min-labels", default=20, show_default=True, type=click.IntRange(1), help="Refuse with fewer labelled decisions.")
@click.option("--trees", default=200, show_default=True, type=click.IntRange(1, 2000), help="Isolation Forest trees.")
@hub_options
def hub_train_fraud(group, publish, out_dir, sign_key, version, min_labels, trees, hub_dir, database_url):
    """Retrain the fraud models from the labelled decisions and (with --publish) roll the bundle out to GROUP."""
    from .hub_training import retrain

    with _one_line():
        store = open_hub_store(hub_dir, database_url)
        result = retrain(store, group, hub_dir, out_dir, sign_key, version, min_labels, publish, _progress, trees)
    click.echo(json.dumps(result, sort_keys=True))

