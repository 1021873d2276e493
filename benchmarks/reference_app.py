"""The reference: a plain Flask hello-world JSON app, served by the same gunicorn settings as the node."""

from flask import Flask, jsonify


def create_app():
    app = Flask("reference")

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app
