"""Training exercises: scans with projected threats, the trainee's answers, and their scores.

- :mod:`~backscatter.exercise.build`: :func:`build_exercise` (DICOS DX scans for the trainee, the
  answer key apart)
- :mod:`~backscatter.exercise.score`: :func:`score_exercise` (hit rate, false alarm rate, d', A',
  localisation, decision times, per class)
- :mod:`~backscatter.exercise.history`: per-trainee SQLite history across exercises
- :mod:`~backscatter.exercise.report`: ``report.json`` and a self-contained HTML report

Layout of an exercise folder ``EX``::

    EX/scans/NNNN.dcm         DICOS DX, what the trainee's viewer opens (names reveal nothing)
    EX/key/key.json           the answer key (which scans carry which threats, where)
    EX/key/NNNN_gt.dcm        GROUND TRUTH TDR per scan
    EX/audit/TRAINEE.db       the trainee's decisions (the viewer's audit log)
    EX/audit/TRAINEE_tdr/     the trainee's operator TDRs
"""

SCANS_DIR = "scans"
KEY_DIR = "key"
KEY_NAME = "key.json"
AUDIT_DIR = "audit"


class ExerciseError(ValueError):
    """An exercise folder, key or answer set that cannot be used; the message says why."""
