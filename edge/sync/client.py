"""The edge's HTTP client for the hub (``requests``); the node token never appears in logs or errors.

Routes, media type and headers come from :mod:`edge.sync.protocol`, as on the hub. Errors say what
happened and name the hub: ``hub_unreachable`` only when no answer came (network, timeout), ``hub_error``
for a 5xx answer, ``hub_refused`` (with the hub's own code) for a 4xx, ``hub_bad_reply`` for an answer
that is not what the protocol says.
"""

from __future__ import annotations

from pathlib import Path

from edge.errors import ApiError

from . import protocol


class HubUnreachable(ApiError):
    """The hub did not answer (network, timeout): the worker retries with backoff."""

    status, code = 503, "hub_unreachable"


class HubFailed(ApiError):
    """The hub answered with a 5xx error: the worker retries with backoff."""

    status, code = 502, "hub_error"


class HubRefused(ApiError):
    """The hub answered with a 4xx error."""

    status, code = 502, "hub_refused"


def version_headers(versions: dict) -> dict:
    """``X-Bundle-Versions`` (JSON, every name) and, for hubs that know one bundle, ``X-Bundle-Version`` when there is one."""
    import json

    headers = {protocol.BUNDLES_HEADER: json.dumps(versions, separators=(",", ":"), sort_keys=True)}
    if len(versions) == 1:
        headers[protocol.BUNDLE_HEADER] = next(iter(versions.values()))
    return headers


class HubBadReply(ApiError):
    """The hub answered something the protocol does not allow (garbled JSON, a wrong shape)."""

    status, code = 502, "hub_bad_reply"


class HubClient:
    """Talks to one hub as one node. ``session`` may be any requests-like object (tests pass a Flask test client adapter)."""

    def __init__(self, url: str, token: str, timeout: float = 30.0, session=None, bundle_versions=None, stores=()):
        import requests

        self.url, self.timeout = url.rstrip("/"), timeout
        self.session = session or requests.Session()
        self._headers = {"Authorization": f"Bearer {token}"}
        self.bundle_versions = bundle_versions  # () -> {bundle name: active version}
        if stores:
            self._headers[protocol.STORES_HEADER] = ",".join(stores)

    def __repr__(self) -> str:
        return f"HubClient({self.url!r})"

    def _call(self, method: str, route: str, path: str | None = None, **kwargs):
        import requests

        headers = dict(self._headers)
        if self.bundle_versions:
            headers.update(version_headers(self.bundle_versions()))
        headers.update(kwargs.pop("headers", {}))
        try:
            response = self.session.request(method, self.url + (path or protocol.ROUTES[route]), headers=headers,
                                            timeout=self.timeout, **kwargs)
        except (requests.RequestException, OSError) as exc:
            raise HubUnreachable(f"hub {self.url} is unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise HubFailed(f"hub {self.url} failed on {route} (HTTP {response.status_code}): {self._message(response)}",
                            status=502)
        if response.status_code >= 400:
            raise self._refusal(route, response)
        return response

    @staticmethod
    def _error(response) -> dict:
        try:
            error = response.json()["error"]
            return error if isinstance(error, dict) else {}
        except (ValueError, KeyError, TypeError):
            return {}

    def _message(self, response) -> str:
        return str(self._error(response).get("message") or "no error message")[:300]

    def _refusal(self, route: str, response) -> HubRefused:
        error = self._error(response)
        message = f"hub {self.url} refused {route} (HTTP {response.status_code}): {self._message(response)}"
        return HubRefused(message, code=error.get("code") or "hub_refused", details=error.get("details"), status=response.status_code)

    def _json(self, route: str, response, keys: tuple) -> dict:
        """The JSON object of ``response`` holding ``keys``; :class:`HubBadReply` naming the hub otherwise."""
        try:
            body = response.json()
        except ValueError as exc:
            raise HubBadReply(f"hub {self.url} sent a garbled {route} reply (not JSON: {exc})") from None
        if not isinstance(body, dict) or any(k not in body for k in keys):
            raise HubBadReply(f"hub {self.url} sent a {route} reply without {', '.join(keys)}")
        return body

    def cursor(self) -> dict:
        """``{"epoch", "seq", "hlc"}`` the hub has applied from this node."""
        body = self._json("cursor", self._call("GET", "cursor"), ("epoch", "seq"))
        if not isinstance(body["seq"], int) or isinstance(body["seq"], bool) or body["seq"] < 0:
            raise HubBadReply(f"hub {self.url} sent a cursor reply whose seq is not a count")
        return body

    def push(self, data: bytes) -> dict:
        """Send one compressed delta; return the hub's ack."""
        response = self._call("POST", "push", data=data, headers={"Content-Type": protocol.MEDIA_TYPE})
        ack = self._json("push", response, ("seq", "epoch"))
        if not isinstance(ack["seq"], int) or isinstance(ack["seq"], bool):
            raise HubBadReply(f"hub {self.url} sent a push reply whose seq is not a count")
        return ack

    def pull(self, request: protocol.PullRequest) -> bytes | None:
        """The next compressed hub delta after the cursor, or ``None`` when up to date."""
        headers = {protocol.FORMATS_HEADER: ", ".join(protocol.READS)}
        response = self._call("GET", "pull", params=request.params(), headers=headers)
        return None if response.status_code == 204 else response.content

    def rollout(self) -> dict:
        """``{"bundles": [{"name", "version", "digest"}]}``: the bundles targeted at this node's group (a hub
        that rolls out one bundle per group answers ``{"version", "digest"}`` only)."""
        body = self._json("rollout", self._call("GET", "rollout"), ())
        if not isinstance(body.get("bundles", []), list) or not isinstance(body.get("version"), (str, type(None))):
            raise HubBadReply(f"hub {self.url} sent a rollout reply whose bundles or version have the wrong type")
        return body

    def download_bundle(self, digest: str, target: Path) -> Path:
        """Download a bundle archive to ``target`` (temporary name, then rename)."""
        response = self._call("GET", "bundle", path=protocol.ROUTES["bundle"].replace("<digest>", digest))
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(response.content)
        tmp.replace(target)
        return target
