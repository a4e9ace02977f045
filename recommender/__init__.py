"""Choosing the tip each person is most likely to find useful."""

from recommender.model_picker import FixedModel, ModelPicker
from recommender.picker import (
    PickContext,
    PickedTip,
    TipPicker,
    feedback_data,
    pick_for,
    served_profile,
)
from recommender.policy import Exploration, ExplorationPolicy
from recommender.registry import ModelRegistry
from recommender.rules import RuleBasedPicker
from recommender.runtime import RecommenderModel, load_model

__all__ = [
    "Exploration",
    "ExplorationPolicy",
    "FixedModel",
    "ModelPicker",
    "ModelRegistry",
    "PickContext",
    "PickedTip",
    "RecommenderModel",
    "RuleBasedPicker",
    "TipPicker",
    "feedback_data",
    "load_model",
    "pick_for",
    "served_profile",
]
