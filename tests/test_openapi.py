"""The OpenAPI document stays true: every route is documented, every documented path exists, it validates."""

from __future__ import annotations

from openapi_spec_validator import validate

from edge.openapi import openapi_path


def _routes(app) -> set:
    pairs = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            pairs |= {(openapi_path(rule.rule), m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return pairs


def test_document_is_valid_openapi_3_1(client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_is_documented_and_every_documented_path_exists(app, client):
    document = client.get("/openapi.json").get_json()
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == _routes(app)
    undocumented = [(p, m) for p, ops in document["paths"].items() for m, op in ops.items() if op.get("x-undocumented")]
    assert undocumented == []


def test_key_protected_operations_declare_security_and_errors(client):
    document = client.get("/openapi.json").get_json()
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1/"):
                assert op.get("security"), f"{method} {path} has no security"
                assert {"401", "403"} <= set(op["responses"]), f"{method} {path} lacks auth errors"


def test_every_route_of_every_installed_plugin_is_documented(data_dir):
    from edge.app import create_app

    app = create_app({"DATA_DIR": str(data_dir)}, watch=False)  # all installed plugins
    document = app.test_client().get("/openapi.json").get_json()
    undocumented = [(p, m) for p, ops in document["paths"].items() for m, op in ops.items() if op.get("x-undocumented")]
    assert undocumented == []
    validate(document)


def test_the_hub_document_is_valid_and_equals_its_routes(tmp_path):
    from edge.hub.app import create_hub_app

    hub = create_hub_app({"DATA_DIR": str(tmp_path / "hub")})
    document = hub.test_client().get("/openapi.json").get_json()
    validate(document)
    assert {(path, method) for path, ops in document["paths"].items() for method in ops} == _routes(hub)
    assert "post" in document["paths"]["/v1/hub/tables/{table}/publish"]
    hub.extensions["storefront_edge_hub"]["store"].close()
