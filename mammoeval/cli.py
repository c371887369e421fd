"""Command-line interface: a thin shell over library functions.

Each command parses its options, calls one library function and prints the result. Heavy imports
sit inside the commands so that `mammoeval --help` is instant. Every `MammoevalError` becomes one
line on stderr and exit code 2 (bad input); no traceback reaches the user.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import click
import typer
from typer.core import TyperGroup

from mammoeval.errors import MammoevalError

EXIT_BAD_INPUT = 2


class _OneLineErrors(TyperGroup):
    """Group that turns `MammoevalError` (and `KeyboardInterrupt`) into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MammoevalError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(code=EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: finished files are kept; run the same command again to resume", err=True)
            raise typer.Exit(code=130) from None


app = typer.Typer(
    cls=_OneLineErrors,
    help="Train generators of synthetic mammograms and prove that what comes out is good.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(cls=_OneLineErrors, help="Prepare datasets: ingest mammograms, make phantoms.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


def _parse_size(text: str) -> tuple[int, int]:
    """Parse HEIGHTxWIDTH (e.g. 1280x1024)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"expected HEIGHTxWIDTH such as 1280x1024, got {text!r}") from None
    if h <= 0 or w <= 0:
        raise typer.BadParameter(f"size must be positive, got {text!r}")
    return h, w


# --- data ------------------------------------------------------------------------------------
# (filled by the foundation issue: `data prepare`, `data phantom`)


# --- train -----------------------------------------------------------------------------------
# (filled by the trainer issue)


# --- qa --------------------------------------------------------------------------------------
# (filled by the QA issue)


# --- score -----------------------------------------------------------------------------------
# (filled by the metrics and score issues)


# --- gate ------------------------------------------------------------------------------------
# (filled by the score & gate issue)


# --- report ----------------------------------------------------------------------------------
# (filled by the report issue)


def main() -> None:
    """Console-script entry point."""
    app()
