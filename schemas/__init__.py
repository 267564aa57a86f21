"""Event and classification models: the public contract of tierstream (pydantic v2)."""

from schemas.classification import Classification, ClassificationMetrics, Reason, RfmScores
from schemas.events import FeedbackEvent, FeedbackKind, OrderEvent, OrderKind
from schemas.vocabulary import AbcClass, ChangedField, Direction, Lifecycle, RfmSegment, Risk, Tier

__all__ = [
    "AbcClass",
    "ChangedField",
    "Classification",
    "ClassificationMetrics",
    "Direction",
    "FeedbackEvent",
    "FeedbackKind",
    "Lifecycle",
    "OrderEvent",
    "OrderKind",
    "Reason",
    "RfmScores",
    "RfmSegment",
    "Risk",
    "Tier",
]
