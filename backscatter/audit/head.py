"""The audit chain's head kept outside the database: a witness file and the operator TDRs.

Deleting the newest rows of a hash chain leaves a valid, shorter chain; only a copy of the head
made before the deletion shows it. After every row the log appends the new head to a witness
file (one line ``SEQ HASH KEY_ID SIGNATURE``, fsynced; point it at another disk or an
append-only mount with ``witness:`` in the audit config), and each operator TDR carries the head
as it was when the TDR was written, in a private block (creator :data:`PRIVATE_CREATOR`, group
0x0011: ``0x01`` seq, ``0x02`` hash, ``0x03`` key id, ``0x04`` signature). The signature is the
row's own Ed25519 signature, so a head cannot be made up without the signing key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PRIVATE_CREATOR = "backscatter audit head"
PRIVATE_GROUP = 0x0011
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Head:
    """Row ``seq`` of the chain and its ``hash``; ``key_id`` and ``signature`` when signed."""

    seq: int
    hash: str
    key_id: str | None = None
    signature: str | None = None

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise ValueError(f"head seq: expected >= 1, got {self.seq}")
        if not _HEX64.match(self.hash):
            raise ValueError(f"head hash: expected 64 lower-case hex digits, got {self.hash!r}")

    def text(self) -> str:
        """``SEQ:HASH``, what ``audit verify --expect-head`` takes."""
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """``SEQ:HASH`` -> Head (raises ValueError naming what is wrong)."""
        seq, sep, digest = text.strip().partition(":")
        if not sep or not seq.isdigit():
            raise ValueError(f"head: expected SEQ:HASH such as 12:3fa4..., got {text!r}")
        return cls(int(seq), digest.lower())


def default_witness(db: Path) -> Path:
    """``DB.witness`` beside the database."""
    return db.with_name(db.name + ".witness")


def append_witness(path: Path, head: Head) -> None:
    """Append ``head`` as one fsynced line."""
    line = f"{head.seq} {head.hash} {head.key_id or '-'} {head.signature or '-'}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_witness(path: str | os.PathLike[str]) -> Iterator[Head]:
    """Heads in a witness file; a torn last line (a crash mid-write) is ignored."""
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if len(parts) != 4 or not parts[0].isdigit():
            if line.strip():
                raise ValueError(f"{path}:{n}: expected 'SEQ HASH KEY_ID SIGNATURE', got {line!r}")
            continue
        seq, digest, kid, sig = parts
        yield Head(int(seq), digest, None if kid == "-" else kid, None if sig == "-" else sig)


def stamp_tdr(path: str | os.PathLike[str], head: Head) -> None:
    """Write ``head`` into the private audit block of the DICOM file at ``path`` (rewritten
    atomically)."""
    import pydicom

    from backscatter.dicos.content import save_atomic

    ds = pydicom.dcmread(path)
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "UL", head.seq)
    block.add_new(0x02, "LO", head.hash)
    block.add_new(0x03, "LO", head.key_id or "")
    block.add_new(0x04, "UT", head.signature or "")
    save_atomic(ds, path)


def tdr_head(path: str | os.PathLike[str]) -> Head | None:
    """The head stamped in an operator TDR, None when it carries none (the log was empty)."""
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    try:
        block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    except KeyError:
        return None
    try:
        seq, digest = int(block[0x01].value), str(block[0x02].value)
    except KeyError:
        return None
    kid = str(block[0x03].value) if 0x03 in block else ""
    sig = str(block[0x04].value) if 0x04 in block else ""
    return Head(seq, digest, kid or None, sig or None)


def parse_expected(text: str) -> Head:
    """``--expect-head``: ``SEQ:HASH`` or the path of an operator TDR carrying a head."""
    p = Path(text)
    if p.is_file():
        head = tdr_head(p)
        if head is None:
            raise ValueError(f"{text}: this file carries no audit chain head")
        return head
    return Head.parse(text)
