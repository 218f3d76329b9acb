"""`python -m services.cli`: the `baikal` command (compose runs `provision` this way)."""

from services.cli.main import app

app()
