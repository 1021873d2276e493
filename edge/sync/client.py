"""The edge's HTTP client for the hub (``requests``); the node token never appears in logs or errors."""

from __future__ import annotations

from pathlib import Path

from edge.errors import ApiError


class HubUnreachable(ApiError):
    """The hub did not answer (network, timeout, 5xx): the worker retries with backoff."""

    status, code = 503, "hub_unreachable"


class HubRefused(ApiError):
    """The hub answered with a 4xx error."""

    status, code = 502, "hub_refused"


def version_headers(versions: dict) -> dict:
    """``X-Bundle-Versions`` (JSON, every name) and, for hubs that know one bundle, ``X-Bundle-Version`` when there is one."""
    import json

    headers = {"X-Bundle-Versions": json.dumps(versions, separators=(",", ":"), sort_keys=True)}
    if len(versions) == 1:
        headers["X-Bundle-Version"] = next(iter(versions.values()))
    return headers


class HubClient:
    """Talks to one hub as one node. ``session`` may be any requests-like object (tests pass a Flask test client adapter)."""

    def __init__(self, url: str, token: str, timeout: float = 30.0, session=None, bundle_versions=None):
        import requests

        self.url, self.timeout = url.rstrip("/"), timeout
        self.session = session or requests.Session()
        self._headers = {"Authorization": f"Bearer {token}"}
        self.bundle_versions = bundle_versions  # () -> {bundle name: active version}

    def __repr__(self) -> str:
        return f"HubClient({self.url!r})"

    def _call(self, method: str, path: str, **kwargs):
        import requests

        headers = dict(self._headers)
        if self.bundle_versions:
            headers.update(version_headers(self.bundle_versions()))
        headers.update(kwargs.pop("headers", {}))
        try:
            response = self.session.request(method, self.url + path, headers=headers, timeout=self.timeout, **kwargs)
        except (requests.RequestException, OSError) as exc:
            raise HubUnreachable(f"hub {self.url} is unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise HubUnreachable(f"hub answered {response.status_code}")
        if response.status_code >= 400:
            raise self._refusal(response)
        return response

    @staticmethod
    def _refusal(response) -> HubRefused:
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "hub_refused", "message": f"hub answered {response.status_code}"}
        return HubRefused(error.get("message", ""), code=error.get("code"), details=error.get("details"), status=response.status_code)

    def cursor(self) -> dict:
        """``{"epoch", "seq", "hlc"}`` the hub has applied from this node."""
        return self._call("GET", "/v1/hub/sync/cursor").json()

    def push(self, data: bytes) -> dict:
        """Send one compressed delta; return the hub's ack."""
        return self._call("POST", "/v1/hub/sync/push", data=data, headers={"Content-Type": "application/zstd"}).json()

    def pull(self, since: int, epoch: str | None) -> bytes | None:
        """The next compressed hub delta after the cursor, or ``None`` when up to date."""
        params = {"since": since, **({"epoch": epoch} if epoch else {})}
        response = self._call("GET", "/v1/hub/sync/pull", params=params)
        return None if response.status_code == 204 else response.content

    def rollout(self) -> dict:
        """``{"bundles": [{"name", "version", "digest"}]}``: the bundles targeted at this node's group."""
        return self._call("GET", "/v1/hub/rollout").json()

    def download_bundle(self, digest: str, target: Path) -> Path:
        """Download a bundle archive to ``target`` (temporary name, then rename)."""
        response = self._call("GET", f"/v1/hub/bundles/{digest}")
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(response.content)
        tmp.replace(target)
        return target
