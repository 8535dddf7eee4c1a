"""`python -m dam.cli`: the `dam` command where its console script is not on PATH (the
benchmarks run it so, with the interpreter they run in)."""

from dam.cli import app

app(prog_name="dam")
