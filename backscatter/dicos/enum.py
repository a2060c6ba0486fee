"""Fixed DICOS vocabularies as string enums; convert at the boundary with ``Enum(value)``."""

from __future__ import annotations

from enum import StrEnum


class TDRType(StrEnum):
    """(4010,1027) who produced the Threat Detection Report."""

    MACHINE = "MACHINE"
    OPERATOR = "OPERATOR"
    GROUND_TRUTH = "GROUND_TRUTH"


class AlarmDecision(StrEnum):
    """(4010,1031) the overall decision for the object of inspection."""

    ALARM = "ALARM"
    CLEAR = "CLEAR"
    UNKNOWN = "UNKNOWN"


class ThreatCategory(StrEnum):
    """(4010,1012) DICOS threat categories (PI = prohibited item)."""

    ANOMALY = "ANOMALY"
    CONTRABAND = "CONTRABAND"
    EXPLOSIVE = "EXPLOSIVE"
    LAPTOP = "LAPTOP"
    OTHER = "OTHER"
    PHARMACEUTICAL = "PHARMACEUTICAL"
    PI = "PI"
    NONE = "NONE"
    UNKNOWN = "UNKNOWN"


class AssessmentFlag(StrEnum):
    """(4010,1015) whether the algorithm (or officer) judged a PTO a threat."""

    THREAT = "THREAT"
    NO_THREAT = "NO_THREAT"
    UNKNOWN = "UNKNOWN"


class AbilityAssessment(StrEnum):
    """(4010,1014) whether the algorithm could assess the PTO."""

    NO_INTERFERENCE = "NO_INTERFERENCE"
    SHIELD = "SHIELD"


class OperatorVerdict(StrEnum):
    """What an officer did with one PTO; stored in the operator TDR's assessment."""

    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    ADDED = "ADDED"


#: our class name -> DICOS threat category; anything else maps to ANOMALY
CLASS_TO_CATEGORY: dict[str, ThreatCategory] = {
    "organic_package": ThreatCategory.CONTRABAND,
    "currency": ThreatCategory.CONTRABAND,
    "firearm": ThreatCategory.PI,
    "blade": ThreatCategory.PI,
    "liquid": ThreatCategory.OTHER,
}


def category_for(class_name: str) -> ThreatCategory:
    """DICOS threat category of one of our class names (unclassified -> ANOMALY)."""
    return CLASS_TO_CATEGORY.get(class_name, ThreatCategory.ANOMALY)
