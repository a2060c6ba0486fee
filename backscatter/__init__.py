"""backscatter: open X-ray backscatter image analysis for customs and border security.

Data flows one way: ``acquisition`` -> :class:`Scan` -> ``inference`` -> :class:`Detections`
-> sinks (``viewer``, ``dicos`` TDR writer, results files, audit log).
"""

from backscatter.classes import THREAT_CLASSES, ThreatClass
from backscatter.detections import Detections
from backscatter.scan import AcquisitionMetadata, Scan

__version__ = "0.1.0"

__all__ = [
    "THREAT_CLASSES",
    "AcquisitionMetadata",
    "Detections",
    "Scan",
    "ThreatClass",
    "__version__",
]
