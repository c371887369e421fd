"""Scoring: generated images of each checkpoint vs the run's real set -> scores.jsonl rows.

Modules: `rows` (reading the score-row contract), `generated` (generated and reduced image sets),
`settings` (what a score depends on), `run` (incremental, crash-safe run scoring), `folder_mode`
(two image folders from any generator), `selection` (the best checkpoint -> best.json), `summary`
(the end-of-scoring table) and `distributed` (torchrun sharding). Nothing heavy is imported here.
"""
