"""The models: a shared core, per-session Gaussian readouts, shifters and Model 4's modulators.

``build_model(sessions, model_cfg, seed)`` is the contract; ``ModelConfig`` its schema.
"""
from .build import ModelConfig, build_model

__all__ = ["ModelConfig", "build_model"]
