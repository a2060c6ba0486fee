"""The project's fixed threat vocabulary. Class id = index in :data:`THREAT_CLASSES`."""

from __future__ import annotations

from enum import StrEnum


class ThreatClass(StrEnum):
    """Threat classes the detector is trained on, in class-id order."""

    ORGANIC_PACKAGE = "organic_package"
    CURRENCY = "currency"
    FIREARM = "firearm"
    BLADE = "blade"
    LIQUID = "liquid"


THREAT_CLASSES: tuple[str, ...] = tuple(c.value for c in ThreatClass)
