"""Run the built node image under buildah (chroot isolation, the host's loopback) for the image test.

With ``--isolation chroot`` the container shares the host's network and process table: the node binds
a loopback port the test reaches directly, and its processes are the host processes whose root is the
container's mount point. Every wait is bounded and the container is always removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path


def buildah(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``buildah ARGS`` with a time limit; return the finished process (text output)."""
    return subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout, check=check)


def image_config(image: str) -> dict:
    """The image's Docker configuration (Cmd, User, Env, Healthcheck)."""
    found = buildah("inspect", "--type", "image", image)
    return json.loads(found.stdout)["Docker"]["config"]


def image_size(image: str) -> int:
    """The image's size in bytes, as buildah counts its layers."""
    return int(json.loads(buildah("images", "--json", image).stdout)[0]["size"])


def run_args(env: dict[str, str]) -> list[str]:
    """``buildah run`` options: chroot isolation and the given environment."""
    args = ["run", "--isolation", "chroot"]
    for name, value in env.items():
        args += ["--env", f"{name}={value}"]
    return args


def container_processes(mount: Path) -> dict[int, dict]:
    """The host processes running inside the container: pid -> {"cmdline", "uids", "ppid"}."""
    found, root = {}, os.stat(mount)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            seen = os.stat(entry / "root")  # buildah run chroots into a bind mount of the container's root
            if (seen.st_dev, seen.st_ino) != (root.st_dev, root.st_ino):
                continue
            status = dict(line.split(":\t", 1) for line in (entry / "status").read_text().splitlines() if ":\t" in line)
            found[int(entry.name)] = {"cmdline": (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(),
                                      "uids": {int(u) for u in status["Uid"].split()}, "ppid": int(status["PPid"])}
    return found


class Container:
    """A working container of ``image``: ``start`` runs the image's command, ``stop`` ends it, ``remove`` cleans up."""

    def __init__(self, image: str, log: Path):
        self.image, self.log, self.process = image, log, None
        self.name = buildah("from", "--pull-never", "--name", f"storefront-edge-test-{os.getpid()}", image).stdout.strip()
        self.mount = Path(buildah("mount", self.name).stdout.strip()).resolve()

    def start(self, env: dict[str, str]) -> None:
        """Run the image's CMD in the container with ``env`` added, in its own process group."""
        command = image_config(self.image)["Cmd"]
        with open(self.log, "w") as output:
            self.process = subprocess.Popen(["buildah", *run_args(env), self.name, "--", *command],
                                            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)

    def exec(self, shell: str, env: dict[str, str], timeout: float = 30) -> int:
        """Run ``sh -c SHELL`` in the container (as the image's user); return its exit status."""
        return buildah(*run_args(env), self.name, "--", "/bin/sh", "-c", shell, timeout=timeout, check=False).returncode

    def node_processes(self) -> dict[int, dict]:
        """The node's processes in the container: the serve command (gunicorn's arbiter) and its workers.

        buildah's own helper that chroots and execs the command (``buildah-chroot-exec``) is left out.
        """
        return {pid: info for pid, info in container_processes(self.mount).items()
                if "storefront-edge serve" in info["cmdline"] and not info["cmdline"].startswith("buildah-")}

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM the node's arbiter, wait for ``buildah run`` to end; its exit status (None: SIGKILLed past ``timeout``)."""
        if self.process is None:
            return None
        node = self.node_processes()
        for pid in (pid for pid, info in node.items() if info["ppid"] not in node):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            return None

    def remove(self) -> None:
        """End whatever still runs and remove the working container."""
        with contextlib.suppress(Exception):
            if self.process is not None and self.process.poll() is None:
                self.stop(timeout=10)
        deadline = time.monotonic() + 10
        while container_processes(self.mount) and time.monotonic() < deadline:
            for pid in container_processes(self.mount):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        buildah("rm", self.name, check=False)
