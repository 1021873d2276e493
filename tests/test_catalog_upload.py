"""Catalog import for a standalone node: the admin zip upload and the CLI, each bad input refused whole.

The node serves the visual search of tests/test_visual_search.py (a tiny real ONNX embedder); a refused
upload must leave the old catalog and the index built from it answering, and a good one must reach
the index through the background rebuild.
"""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from tests.test_visual_search import (app_config, client, colour_jpeg, headers, indexer,  # noqa: F401
                                      png_bomb, ready_node, search_image, skus, wait_for)

ADMIN = {"Authorization": "Bearer admin-key-for-visual-search"}
HEADER = ["sku", "title", "description", "price", "currency", "category", "in_stock", "images"]


def catalog_zip(rows, files: dict[str, bytes], header=HEADER, csv_name="catalog.csv") -> bytes:
    """A zip of one CSV (``rows`` under ``header``) and ``files`` (name -> bytes)."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(csv_name, text.getvalue())
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(client, body: bytes, headers=ADMIN, mimetype="application/zip"):
    return client.post("/v1/catalog/import", data=body, content_type=mimetype, headers=headers)


def row(sku, colour="magenta", image=None):
    return [sku, f"{colour} thing", f"a {colour} thing", 2.5, "EUR", "misc", 1, image or f"img/{sku}.jpg"]


def good_files(*skus_and_colours):
    return {f"img/{sku}.jpg": colour_jpeg(colour, seed=n) for n, (sku, colour) in enumerate(skus_and_colours)}


def catalog_skus(node) -> set[str]:
    return {r["sku"] for r in node.db()["catalog_items"].rows}


def test_an_uploaded_catalog_is_imported_and_reaches_the_index_in_the_background(client, ready_node, headers):
    before = indexer(ready_node).current.name
    body = catalog_zip([row("MAG-1")], good_files(("MAG-1", "magenta")))
    response = upload(client, body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {"imported": 1}
    assert "MAG-1" in catalog_skus(ready_node)
    wait_for(lambda: indexer(ready_node).current.name != before)
    assert skus(search_image(client, headers, colour_jpeg("magenta", seed=42), k=1)) == ["MAG-1"]
    image = client.get("/v1/catalog/images/MAG-1/0.jpg", headers=headers)
    image.close()
    assert image.status_code == 200


def test_the_upload_needs_the_admin_key_and_a_zip(client, headers):
    body = catalog_zip([row("MAG-1")], good_files(("MAG-1", "magenta")))
    assert upload(client, body, headers=headers).status_code == 403
    assert upload(client, body, mimetype="text/csv").status_code == 415
    refused = upload(client, b"PK\x03\x04 this is no zip")
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "bad_archive"


def _assert_nothing_changed(client, node, headers, index_name, before):
    assert catalog_skus(node) == before
    assert indexer(node).current.name == index_name
    assert skus(search_image(client, headers, colour_jpeg("red", seed=7), k=1)) == ["RED-1"]


BAD_CATALOGS = {
    "missing column": (lambda: catalog_zip([["MAG-1", "x"]], {}, header=["sku", "title"]), [(1, "price")]),
    "missing image": (lambda: catalog_zip([row("MAG-1"), row("MAG-2")], good_files(("MAG-1", "magenta"))),
                      [(3, "'img/MAG-2.jpg' is missing")]),
    "not an image": (lambda: catalog_zip([row("MAG-1")], {"img/MAG-1.jpg": b"just text, no JPEG"}),
                     [(2, "not a readable image")]),
    "image bomb": (lambda: catalog_zip([row("MAG-1", image="img/big.png")], {"img/big.png": png_bomb()}),
                   [(2, "more than")]),
    "image outside the folder": (lambda: catalog_zip([row("MAG-1", image="../../store.db")], {}),
                                 [(2, "outside the catalog folder")]),
    "duplicate SKU": (lambda: catalog_zip([row("MAG-1"), row("MAG-2"), row("MAG-1")],
                                          good_files(("MAG-1", "magenta"), ("MAG-2", "magenta"))),
                      [(4, "duplicate SKU 'MAG-1' (first on line 2)")]),
    "several problems": (lambda: catalog_zip([row("MAG-1"), ["MAG-2", "", "", "abc", "", "", "", ""], row("MAG-1")],
                                             good_files(("MAG-1", "magenta"))),
                         [(3, "missing title"), (4, "duplicate SKU")]),
}


@pytest.mark.parametrize("case", sorted(BAD_CATALOGS))
def test_a_bad_catalog_lists_every_problem_with_its_line_and_imports_nothing(client, ready_node, headers, case):
    make, expected = BAD_CATALOGS[case]
    index_name, before = indexer(ready_node).current.name, catalog_skus(ready_node)
    response = upload(client, make())
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid_catalog"
    problems = error["details"]["problems"]
    assert len(problems) == len(expected)
    for problem, (line, fragment) in zip(problems, expected):
        assert problem["line"] == line and fragment in problem["error"], problem
    _assert_nothing_changed(client, ready_node, headers, index_name, before)
    assert not (ready_node.data_dir / "media" / "catalog" / "MAG-1").exists()


def _zip_with(name: str, data: bytes = b"x", **info) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("catalog.csv", ",".join(HEADER) + "\n")
        entry = zipfile.ZipInfo(name)
        for key, value in info.items():
            setattr(entry, key, value)
        archive.writestr(entry, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _corrupt_zip() -> bytes:
    """A zip whose CSV's deflate stream is damaged (the CRC is never reached: zlib fails first)."""
    import random

    noise = random.Random(7)  # fixed: the same damaged stream every run, so zlib (not the CRC) always fails
    body = bytearray(catalog_zip([row(f"S{n}", noise.randbytes(8).hex()) for n in range(2000)], {}))
    start = 30 + len("catalog.csv") + 100
    body[start:start + 400] = bytes(b ^ 0x5A for b in body[start:start + 400])
    return bytes(body)


BAD_ARCHIVES = {
    "corrupt data": (_corrupt_zip(), "is corrupt"),
    "name too long": (_zip_with("img/" + "a" * 300 + ".jpg"), "cannot be unpacked"),
    "file where a folder is": (catalog_zip([], {"img/": b"", "img": b"x"}), "cannot be unpacked"),
    "path traversal": (_zip_with("../../evil.jpg"), "outside the catalog folder"),
    "absolute path": (_zip_with("/etc/evil.jpg"), "outside the catalog folder"),
    "zip bomb": (_zip_with("img/bomb.jpg", b"\0" * 20_000_000), "zip bomb"),
    "link": (_zip_with("img/link.jpg", b"/etc/passwd", external_attr=(0o120777 << 16)), "is a link"),
    "no csv": (catalog_zip([], {}, csv_name="img/catalog.csv"), "exactly one .csv"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_an_unsafe_archive_is_refused_and_nothing_is_written(client, ready_node, headers, case, tmp_path):
    body, fragment = BAD_ARCHIVES[case]
    index_name, before = indexer(ready_node).current.name, catalog_skus(ready_node)
    response = upload(client, body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "bad_archive" and fragment in response.get_json()["error"]["message"]
    _assert_nothing_changed(client, ready_node, headers, index_name, before)
    assert not (ready_node.data_dir.parent / "evil.jpg").exists()
    assert not list(ready_node.data_dir.glob(".upload-*")) and not list(ready_node.data_dir.glob(".catalog-*"))


def test_the_cli_lists_every_problem_on_one_line_and_imports_nothing(tmp_path):
    from click.testing import CliRunner

    from edge.cli.main import cli

    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"not an image")
    with open(folder / "catalog.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows([row("A", image="a.jpg"), row("B", image="b.jpg"), row("A", image="a.jpg")])
    data = tmp_path / "var"
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "catalog", "import", str(folder / "catalog.csv")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    message = result.output.strip().splitlines()
    assert len(message) == 1 and message[0].startswith("Error: nothing imported:")
    for fragment in ("line 2: image 'a.jpg' is not a readable image", "line 3: image 'b.jpg' is missing",
                     "line 4: duplicate SKU 'A'"):
        assert fragment in message[0]
