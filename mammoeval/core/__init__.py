"""Shared basics every layer may use: errors, atomic files, views, the run-dir contract, process groups.

Nothing here imports another mammoeval package (`mammoeval.data`, `metrics`, `qa`, `score`,
`report`) or the trainer; import-linter checks it (pyproject.toml, [tool.importlinter]).
"""
