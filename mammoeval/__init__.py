"""mammoeval: train and evaluate generators of synthetic full-field digital mammograms.

Data flows one way: ingest (`mammoeval.data`) -> prepared dataset -> trainer (`mammoeval_train`)
-> run directory (`mammoeval.core.rundir`) -> scorer (`mammoeval.score`, `mammoeval.metrics`, `mammoeval.qa`)
-> scores -> selection / gate (`mammoeval.gate`) / report (`mammoeval.report`).
"""

__version__ = "0.1.0"
