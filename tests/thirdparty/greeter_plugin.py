"""A small third-party plugin that proves the plugin contract from outside the project's plugins.

It needs the bundle model ``doubler``, has a config schema, a migration, a synced table, routes,
start-up/shut-down and a health check whose answer the tests can flip.
"""

from __future__ import annotations

import os

import numpy as np
from flask import Blueprint, jsonify
from pydantic import BaseModel, Field
from sqlite_utils import Migrations

from edge.bodies import json_body, validated
from edge.hookspecs import HealthReport, PluginInfo, SyncedTable, hookimpl
from edge.node import current_node
from edge.openapi import documented

PLUGIN_NAME = "greeter"
STATE = {"started": 0, "stopped": 0, "healthy": True}
greeter_migrations = Migrations("greeter")


@greeter_migrations()
def create_greetings(db):
    db["greetings"].create({"id": str, "text": str}, pk="id")


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


@hookimpl
def shutdown(node):
    STATE["stopped"] += 1


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
        bundle = node.bundle
        output = node.model("doubler").run({"x": np.asarray([body.values], dtype=np.float32)})["y"]
        return jsonify({"values": output[0].tolist(), "bundle": bundle.version, "worker": os.getpid()})

    return bp
