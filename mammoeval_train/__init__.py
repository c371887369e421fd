"""mammoeval_train: the progressive-growing WGAN-GP trainer (Korkinof et al. 2018, after Karras et al. 2018).

Public entry points: `train` (library form of `mammoeval train`), `TrainConfig` / `preset`, and
`load_generator` (what the scorer uses to sample a checkpoint's G-EMA).
"""

from mammoeval_train.config import PRESETS, TrainConfig, preset
from mammoeval_train.generate import LoadedGenerator, load_generator
from mammoeval_train.loop import RunSummary, load_run_config, train

__all__ = ["PRESETS", "LoadedGenerator", "RunSummary", "TrainConfig", "load_generator", "load_run_config", "preset",
           "train"]
