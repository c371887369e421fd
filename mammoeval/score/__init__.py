"""Scoring: generated images of each checkpoint vs the run's real set -> scores.jsonl rows.

Modules: `rows` (reading the score-row contract), `imagesets` (generated and reduced image sets),
`settings` (what a score depends on), `run` (incremental, crash-safe run scoring) and `folder`
(two image folders from any generator). Nothing heavy is imported here.
"""
