"""What every command shares: the data folder option, one-line errors, exit codes."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ApiError
from ..paths import data_dir


class Group(click.Group):
    """A click group that turns the project's errors into one-line messages and exit code 1, and offers the
    commands plugins contribute to it (:mod:`edge.cli.plugin_commands`)."""

    def list_commands(self, ctx):
        from .plugin_commands import contributed

        return sorted({*self.commands, *contributed(ctx, self)})

    def get_command(self, ctx, name):
        from .plugin_commands import contributed

        return self.commands.get(name) or contributed(ctx, self).get(name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            raise click.ClickException(f"{exc.message} [{exc.code}]") from None
        except (OSError, ValueError) as exc:
            if isinstance(exc, click.ClickException):
                raise
            raise click.ClickException(str(exc)) from None


def data_dir_of(ctx: click.Context) -> Path:
    """The data folder chosen on the root command (or its default)."""
    root = ctx.find_root()
    return data_dir(root.params.get("data_dir"))


def app_overrides(ctx: click.Context) -> dict:
    """Config overrides every command passes to ``create_app``."""
    return {"DATA_DIR": str(data_dir_of(ctx))}
