"""The container image, built from a clean clone of this repository and run here without Docker.

``scripts/image_build.py`` builds it with buildah on the debootstrap base (see README, "Container image");
the node runs inside it under ``buildah run`` on a loopback port with client and admin keys. Needs root
and buildah (``make test-image`` installs it with debootstrap; ``make test`` runs this test only where buildah
is installed already); skipped with the reason elsewhere.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN_KEY, CLIENT_KEY
from tests.image_container import Container, container_processes, image_config
from tests.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "models_lite" / "demo_catalog"
TAG = "localhost/storefront-edge:test"

pytestmark = [
    pytest.mark.image,
    pytest.mark.skipif(shutil.which("buildah") is None,
                       reason="buildah is not installed: `make test-image` (as root) installs buildah and debootstrap"),
    pytest.mark.skipif(os.geteuid() != 0, reason="buildah builds and runs the image as root only here"),
]


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> str:
    """The node image built from a clean clone of the committed sources (reused while their hash matches)."""
    clone = tmp_path_factory.mktemp("image") / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=120)
    built = subprocess.run([sys.executable, str(clone / "scripts" / "image_build.py"), "--builder", "buildah",
                            "--context", str(clone), "--tag", TAG], capture_output=True, text=True, timeout=1500)
    assert built.returncode == 0, built.stderr[-4000:]
    return built.stdout.strip().splitlines()[-1]


@pytest.fixture
def container(image, tmp_path):
    """A working container of the image; removed afterwards whatever happened."""
    box = Container(image, tmp_path / "node.log")
    try:
        yield box
    finally:
        box.remove()


def _demo_photo() -> tuple[str, bytes]:
    """A product photo of the demo catalog and the SKU it shows."""
    with open(DEMO / "catalog.csv", newline="") as handle:
        row = next(row for row in csv.DictReader(handle) if row["images"])
    return row["sku"], (DEMO / row["images"].split(";")[0]).read_bytes()


def _node_log(box: Container) -> str:
    return box.log.read_text()[-3000:] if box.log.exists() else ""


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_image_serves_a_photo_search_as_a_non_root_user_and_passes_its_health_check(container):
    port = free_port()
    env = {"STOREFRONT_EDGE_HOST": "127.0.0.1", "STOREFRONT_EDGE_PORT": str(port),
           "STOREFRONT_EDGE_CLIENT_KEY": CLIENT_KEY, "STOREFRONT_EDGE_ADMIN_KEY": ADMIN_KEY}
    container.start(env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(f"{base}/healthz", timeout=120)
        wait_until(f"{base}/readyz", timeout=120)
    except TimeoutError:
        pytest.fail("the node in the image did not come up:\n" + _node_log(container))

    sku, photo = _demo_photo()
    assert requests.post(f"{base}/v1/visual-search", data=photo, timeout=30,
                         headers={"Content-Type": "image/jpeg"}).status_code == 401
    found = requests.post(f"{base}/v1/visual-search?k=3", data=photo, timeout=30,
                          headers={"Content-Type": "image/jpeg", "Authorization": f"Bearer {CLIENT_KEY}"})
    assert found.status_code == 200, found.text
    assert found.json()["items"][0]["sku"] == sku

    node = container.node_processes()
    assert len(node) == 3, node  # gunicorn's arbiter and the image's two workers
    assert all(info["uids"] == {10001} for info in node.values()), node

    check = image_config(container.image)["Healthcheck"]["Test"]
    assert check[0] == "CMD-SHELL"
    assert container.exec(check[1], env) == 0
    assert container.exec(check[1], {**env, "STOREFRONT_EDGE_PORT": str(free_port())}) != 0

    assert container.stop() == 0, "the node did not stop cleanly on SIGTERM:\n" + _node_log(container)
    assert not container_processes(container.mount)


@pytest.mark.timeout(1800)
def test_the_node_image_carries_no_compiler_and_no_converter_libraries(container):
    root = container.mount
    binaries = {p.name for folder in ("usr/bin", "usr/local/bin") for p in (root / folder).iterdir()}
    assert "espeak-ng" in binaries and "curl" in binaries
    toolchain = {"gcc", "g++", "cc", "c++", "cpp", "as", "ld"}
    compilers = {name for name in binaries if name.rpartition("linux-gnu-")[2].split("-")[0] in toolchain}
    assert not compilers, compilers
    site = next((root / "opt/venv/lib").glob("python3*/site-packages"))
    packages = {p.name.lower() for p in site.iterdir()}
    assert "onnxruntime" in packages and list((site / "annoy").glob("*.so")), sorted(packages)
    assert not packages & {"torch", "torchvision", "jax", "jaxlib", "onnxscript", "litert_torch", "ai_edge_quantizer"}
