"""`python -m mammoeval` runs the command-line interface."""

from mammoeval.cli import app

if __name__ == "__main__":
    app()
