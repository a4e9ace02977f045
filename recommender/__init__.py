"""Choosing the tip each person is most likely to find useful."""

from recommender.picker import PickContext, PickedTip, TipPicker
from recommender.rules import RuleBasedPicker

__all__ = ["PickContext", "PickedTip", "RuleBasedPicker", "TipPicker"]
