"""Event and classification models: the public contract of tierstream (pydantic v2)."""

from schemas.classification import Classification, ClassificationMetrics, Reason, RfmScores
from schemas.events import FeedbackEvent, FeedbackKind, OrderEvent, OrderKind
from schemas.profile import ProfileDimensions
from schemas.vocabulary import (
    TIER_NAME_PATTERN,
    AbcClass,
    ChangedField,
    Direction,
    Lifecycle,
    RfmSegment,
    Risk,
    TierName,
)

__all__ = [
    "TIER_NAME_PATTERN",
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
    "ProfileDimensions",
    "Reason",
    "RfmScores",
    "RfmSegment",
    "Risk",
    "TierName",
]
