"""A small third-party plugin that proves the plugin contract from outside the project's plugins.

It needs the bundle model ``doubler``, has a config schema, a migration, a hub-owned synced table
(``greetings``, published on the hub and received by every edge), routes, a command
(``storefront-edge greeter list``), demo data, start-up/shut-down with per-node state in its slot, and a
health check whose answer the tests can flip. It imports from ``edge.api`` only.
"""

from __future__ import annotations

import os

import click
import numpy as np
from flask import Blueprint, jsonify
from pydantic import BaseModel, Field
from sqlite_utils import Migrations

from edge.api import (HealthReport, PluginInfo, SyncedTable, current_node, documented, hookimpl, json_body, open_node,
                      validated)

PLUGIN_NAME = "greeter"
STATE = {"started": 0, "stopped": 0, "healthy": True}
greeter_migrations = Migrations("greeter")


@greeter_migrations()
def create_greetings(db):
    db["greetings"].create({"id": str, "text": str}, pk="id")


@greeter_migrations()
def add_greeting_language(db):
    db["greetings"].add_column("lang", str, not_null_default="en")


class GreeterConfig(BaseModel):
    greeting: str = "hello"
    repeat: int = Field(1, ge=1, le=5)


class DoubleRequest(BaseModel):
    values: list[float] = Field(min_length=4, max_length=4)


@hookimpl
def plugin_info():
    return PluginInfo(name="greeter", version="1.2.3", description="test plugin", models=("doubler",), config=GreeterConfig)


@hookimpl
def migrations():
    return greeter_migrations


@hookimpl
def synced_tables():
    return [SyncedTable("greetings", direction="hub_to_edge", policy="hub_owned")]


@hookimpl
def startup(node):
    STATE["started"] += 1
    node.slot(PLUGIN_NAME).served = 0


@hookimpl
def shutdown(node):
    STATE["stopped"] += 1


@click.group("greeter")
def greeter_commands():
    """The greeter plugin's commands."""


@greeter_commands.command("list")
@click.pass_context
def list_greetings(ctx):
    """Print every greeting this node holds (published on the hub)."""
    node = open_node(ctx)
    try:
        for row in node.db()["greetings"].rows_where(order_by="id"):
            click.echo(f"{row['id']}\t{row['lang']}\t{row['text']}")
    finally:
        node.close()


@hookimpl
def cli_commands():
    return [greeter_commands]


@hookimpl
def load_demo(node, models_dir):
    return None  # nothing shipped; the hook is part of the contract


@hookimpl
def health(node):
    return HealthReport(ready=STATE["healthy"], detail="" if STATE["healthy"] else "greeter is resting")


@hookimpl
def blueprint(node):
    bp = Blueprint("greeter", __name__)

    @bp.get("/hello")
    @documented("Say hello", response={"type": "object"})
    def hello():
        config = current_node().plugin_config("greeter")
        return jsonify({"message": " ".join([config.greeting] * config.repeat)})

    @bp.post("/double")
    @documented("Run the bundle's doubler model", request=DoubleRequest, response={"type": "object"}, errors=(400, 415, 422, 503))
    def double():
        body = validated(DoubleRequest, json_body())
        node = current_node()
        bundle = node.bundle_for("doubler")
        output = bundle.model("doubler").run({"x": np.asarray([body.values], dtype=np.float32)})["y"]
        node.slot(PLUGIN_NAME).served += 1
        return jsonify({"values": output[0].tolist(), "bundle": bundle.version, "bundle_name": bundle.name,
                        "served": node.slot(PLUGIN_NAME).served, "worker": os.getpid()})

    @bp.post("/run/<model>")
    @documented("Run any active bundle's model (found by name) on the given row", request=DoubleRequest,
                response={"type": "object"}, errors=(400, 415, 422, 503))
    def run(model):
        body = validated(DoubleRequest, json_body())
        node = current_node()
        bundle = node.bundle_for(model)
        if bundle is None:
            node.model(model)  # 503 model_missing
        output = next(iter(bundle.model(model).run({"x": np.asarray([body.values], dtype=np.float32)}).values()))
        return jsonify({"values": output[0].tolist(), "bundle": bundle.version, "bundle_name": bundle.name, "worker": os.getpid()})

    return bp
