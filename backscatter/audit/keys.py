"""The audit log's signing key: Ed25519 (``cryptography``), made by ``backscatter audit keygen``.

The private key signs every row the viewer writes; the public key (``KEY.pub``) is all that
``audit verify`` needs, so a supervisor can check a log without being able to forge one. Keep
the private key where the officers' accounts cannot read it (owned by the account the review
station runs the viewer as, mode 0600): whoever can read it can rewrite the log undetected.

Where the viewer finds it, first match wins: ``--audit-key PATH``; ``key:`` in the audit
config file (``$BACKSCATTER_AUDIT_CONFIG``, else ``/etc/backscatter/audit.yaml``), which may
also name ``witness:``, the file the chain heads are copied to (default ``DB.witness``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

#: where the audit config is looked for when $BACKSCATTER_AUDIT_CONFIG is not set
DEFAULT_CONFIG = Path("/etc/backscatter/audit.yaml")
CONFIG_ENV = "BACKSCATTER_AUDIT_CONFIG"
#: what a signature covers: this prefix, the row's seq and its chained hash
SIGNED_PREFIX = "backscatter-audit-v1"
INSTALL_HINT = "pip install cryptography"


class AuditKeyError(ValueError):
    """A key file that is missing, unreadable or not an Ed25519 key; names the file."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {reason}")


def is_available() -> bool:
    try:
        import cryptography.hazmat.primitives.asymmetric.ed25519  # noqa: F401
    except ImportError:
        return False
    return True


def signed_message(seq: int, row_hash: str) -> bytes:
    return f"{SIGNED_PREFIX}|{int(seq)}|{row_hash}".encode()


class SigningKey:
    """An Ed25519 private key loaded from a PEM file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.path = Path(path)
        data = _read(self.path)
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise AuditKeyError(path, f"not a PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AuditKeyError(path, f"expected an Ed25519 key, got {type(key).__name__}")
        self._key = key
        self.public = VerifyKey.from_key(key.public_key(), self.path)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, seq: int, row_hash: str) -> str:
        """Hex Ed25519 signature of row ``seq`` with chained hash ``row_hash``."""
        return self._key.sign(signed_message(seq, row_hash)).hex()


@dataclass(frozen=True)
class VerifyKey:
    """An Ed25519 public key; ``key_id`` is the first 16 hex of sha256 of its raw bytes."""

    raw: bytes
    path: Path

    @classmethod
    def from_key(cls, key: object, path: Path) -> VerifyKey:
        from cryptography.hazmat.primitives import serialization

        raw = key.public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return cls(bytes(raw), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VerifyKey:
        """The public key from ``KEY.pub`` (or derived from the private ``KEY`` itself)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        p = Path(path)
        data = _read(p)
        if b"PRIVATE KEY" in data:
            return SigningKey(p).public
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise AuditKeyError(p, f"not a PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise AuditKeyError(p, f"expected an Ed25519 key, got {type(key).__name__}")
        return cls.from_key(key, p)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def verifies(self, seq: int, row_hash: str, signature: str | None) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        if not signature:
            return False
        try:
            sig = bytes.fromhex(signature)
            Ed25519PublicKey.from_public_bytes(self.raw).verify(sig, signed_message(seq, row_hash))
        except (ValueError, InvalidSignature):
            return False
        return True


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise AuditKeyError(path, "no such key file") from None
    except PermissionError:
        raise AuditKeyError(path, "cannot read the key file (permission denied)") from None
    except IsADirectoryError:
        raise AuditKeyError(path, "is a folder, not a key file") from None


def keygen(path: str | os.PathLike[str]) -> tuple[Path, Path, str]:
    """Write a new private key to ``path`` (mode 0600) and its public key to ``path.pub``.

    Refuses to overwrite either file. Returns ``(private, public, key_id)``.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Path(path)
    public = private.with_name(private.name + ".pub")
    for p in (private, public):
        if p.exists():
            raise AuditKeyError(p, "exists already: a new key would orphan the logs it signed")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public, VerifyKey.from_key(key.public_key(), public).key_id


@dataclass(frozen=True)
class AuditConfig:
    """What the audit config file says; unset fields are None."""

    key: Path | None = None
    witness: Path | None = None
    source: Path | None = None


def load_config(path: str | os.PathLike[str] | None = None) -> AuditConfig:
    """The audit config from ``path``, else ``$BACKSCATTER_AUDIT_CONFIG``, else
    :data:`DEFAULT_CONFIG`; an absent default file gives an empty config."""
    import yaml

    explicit = path or os.environ.get(CONFIG_ENV)
    p = Path(explicit) if explicit else DEFAULT_CONFIG
    if not p.is_file():
        if explicit:
            raise AuditKeyError(p, "no such audit config file")
        return AuditConfig()
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AuditKeyError(p, f"cannot read the audit config ({exc})") from None
    if not isinstance(data, dict):
        raise AuditKeyError(p, f"expected a mapping (key: PATH), got {type(data).__name__}")
    unknown = set(data) - {"key", "witness"}
    if unknown:
        raise AuditKeyError(p, f"unknown settings {sorted(unknown)} (expected key, witness)")

    def rel(value: object) -> Path | None:
        if value is None:
            return None
        q = Path(str(value)).expanduser()
        return q if q.is_absolute() else p.parent / q

    return AuditConfig(key=rel(data.get("key")), witness=rel(data.get("witness")), source=p)


class NoSigningKeyError(AuditKeyError):
    """No signing key was named anywhere; says how to make and name one."""

    def __init__(self, where: Path) -> None:
        ValueError.__init__(
            self,
            "no audit signing key: make one as the station's viewer account with "
            "`backscatter audit keygen --out KEY` and name it in "
            f"{where} (key: KEY) or with --audit-key KEY",
        )
        self.path = str(where)


def signing_key(
    path: str | os.PathLike[str] | None = None,
    *,
    config: AuditConfig | None = None,
    required: bool = True,
) -> SigningKey | None:
    """The key named by ``path`` (``--audit-key``), else by the config; None when neither names
    one and it is not ``required`` (else :class:`NoSigningKeyError`)."""
    if path is not None:
        return SigningKey(path)
    cfg = config if config is not None else load_config()
    if cfg.key is not None:
        return SigningKey(cfg.key)
    if required:
        raise NoSigningKeyError(cfg.source or Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG))
    return None
