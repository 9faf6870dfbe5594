"""Training denoisers: the strategies (:mod:`.strategies`), every option declared once
(:mod:`.config`), and the one training loop (:mod:`.trainer`)."""

from .config import TrainConfig
from .strategies import STRATEGIES, strategy_noise
from .trainer import Trainer, TrainState, train

__all__ = ["STRATEGIES", "TrainConfig", "TrainState", "Trainer", "strategy_noise", "train"]
