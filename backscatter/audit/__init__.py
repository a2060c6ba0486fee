"""The decision audit log shared by the review viewer and the training exercises.

:mod:`~backscatter.audit.log` is the signed, hash-chained SQLite log; :mod:`~backscatter.audit.
keys` the Ed25519 signing key and the audit config; :mod:`~backscatter.audit.head` the chain
head kept outside the database (witness file, operator TDRs).
"""

from __future__ import annotations

from backscatter.audit.head import Head, read_witness, stamp_tdr, tdr_head
from backscatter.audit.keys import AuditKeyError, SigningKey, VerifyKey, keygen, load_config
from backscatter.audit.log import (
    FIELDS,
    AuditError,
    AuditLog,
    VerifyResult,
    export,
    read_rows,
    row_hash,
    utc_now,
    verify,
)

__all__ = [
    "FIELDS",
    "AuditError",
    "AuditKeyError",
    "AuditLog",
    "Head",
    "SigningKey",
    "VerifyKey",
    "VerifyResult",
    "export",
    "keygen",
    "load_config",
    "read_rows",
    "read_witness",
    "row_hash",
    "stamp_tdr",
    "tdr_head",
    "utc_now",
    "verify",
]
