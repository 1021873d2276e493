"""OpenAPI 3.1 document generated from the app's routes and their ``@documented`` descriptions.

Every route must carry ``@documented(...)``; a route without it is listed with ``x-undocumented`` so
that the test checking routes against the document fails loudly.
"""

from __future__ import annotations

import re

from flask import Flask

from . import __version__

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {}}}},
}
_STANDARD_ERRORS = {"400": "Bad request", "401": "Missing API key", "403": "Wrong API key",
                    "413": "Body too large", "415": "Wrong media type", "422": "Invalid request", "503": "Not ready"}


def documented(summary: str, *, auth: str | None = "client", request=None, request_media: str = "application/json",
               response=None, status: int = 200, errors: tuple = (), tags: tuple = ()):
    """Describe a view for the OpenAPI document; ``request``/``response`` are pydantic models or JSON schemas."""

    def decorate(view):
        view._openapi = {"summary": summary, "auth": auth, "request": request, "request_media": request_media,
                         "response": response, "status": status, "errors": errors, "tags": tags}
        return view

    return decorate


def _schema(model, components: dict) -> dict:
    if model is None:
        return {"type": "object"}
    if isinstance(model, dict):
        return model
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(rule, view, components: dict) -> dict:
    doc = getattr(view, "_openapi", None)
    if doc is None:
        return {"summary": rule.endpoint, "x-undocumented": True, "responses": {"200": {"description": "OK"}}}
    operation = {"summary": doc["summary"], "operationId": rule.endpoint.replace(".", "_"),
                 "responses": {str(doc["status"]): {"description": "Success", "content": {
                     "application/json": {"schema": _schema(doc["response"], components)}}}}}
    if doc["tags"]:
        operation["tags"] = list(doc["tags"])
    if doc["request"] is not None:
        operation["requestBody"] = {"required": True, "content": {doc["request_media"]: {"schema": _schema(doc["request"], components)}}}
    if doc["auth"]:
        operation["security"] = [{doc["auth"] + "Key": []}]
    codes = {str(c) for c in doc["errors"]} | ({"401", "403"} if doc["auth"] else set())
    for code in sorted(codes):
        operation["responses"][str(code)] = {"description": _STANDARD_ERRORS.get(str(code), "Error"),
                                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in rule.arguments]
    if params:
        operation["parameters"] = sorted(params, key=lambda p: p["name"])
    return operation


def openapi_path(rule: str) -> str:
    """Flask ``/a/<int:x>`` → OpenAPI ``/a/{x}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def build_document(app: Flask) -> dict:
    """The OpenAPI 3.1 document of every route of ``app``."""
    components = {"Error": ERROR_SCHEMA}
    paths: dict = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(openapi_path(rule.rule), {})[method.lower()] = _operation(rule, view, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "storefront-edge node", "version": __version__},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "clientKey": {"type": "http", "scheme": "bearer", "description": "client key (STOREFRONT_EDGE_CLIENT_KEY), or one store's key "
                          "(STOREFRONT_EDGE_STORE_KEYS__<store>) for that store's routes /v1/stores/<store>/<plugin route>"},
            "adminKey": {"type": "http", "scheme": "bearer", "description": "admin key (STOREFRONT_EDGE_ADMIN_KEY)"}}},
    }
