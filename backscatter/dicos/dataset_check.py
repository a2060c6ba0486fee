"""Checks on a received data set before it is acknowledged: the encoding matches the
negotiated transfer syntax, every element length fits, and a Deflate data set is inflated
under a cap on its decoded size (never all at once in memory).
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

#: Deflated Explicit VR Little Endian: the only transfer syntax that compresses the whole
#: data set (pixel data compression is the pixel reader's business, capped by its budget)
DEFLATED = "1.2.840.10008.1.2.1.99"
IMPLICIT_LITTLE = "1.2.840.10008.1.2"
EXPLICIT_BIG = "1.2.840.10008.1.2.2"

_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL "
    b"UN UR US UT UV".split()
)
#: VRs with a 2-byte reserved field and a 4-byte length in explicit VR
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_MAX_DEPTH = 32


class DatasetTooLarge(ValueError):
    """The decoded data set passes the receiver's cap."""


def syntax_flags(transfer_syntax: str) -> tuple[bool, bool]:
    """``(implicit VR, little endian)`` of a transfer syntax UID."""
    return transfer_syntax == IMPLICIT_LITTLE, transfer_syntax != EXPLICIT_BIG


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class _Walker:
    def __init__(self, data: bytes | memoryview, implicit: bool, little: bool) -> None:
        self.data = data
        self.n = len(data)
        self.implicit = implicit
        self.e = "<" if little else ">"

    def u16(self, off: int) -> int:
        return int(struct.unpack_from(self.e + "H", self.data, off)[0])

    def u32(self, off: int) -> int:
        return int(struct.unpack_from(self.e + "I", self.data, off)[0])

    def tag_at(self, off: int) -> int:
        return (self.u16(off) << 16) | self.u16(off + 2)

    def quirk_length(self, off: int, end: int) -> tuple[int, int]:
        """The DICOS V02A "OD without reserved bytes" quirk, as the pixel reader recovers it:
        a uint64 (or uint32) length right after the VR, taken when the value then fits."""
        for width in (8, 4):
            if off + 6 + width <= end:
                fmt = self.e + ("Q" if width == 8 else "I")
                length = int(struct.unpack_from(fmt, self.data, off + 6)[0])
                if off + 6 + width + length <= end:
                    return length, 6 + width
        raise ValueError(f"element {_tag(self.tag_at(off))} at byte {off}: reserved bytes set")

    def elements(self, off: int, end: int, depth: int, until: int | None) -> int:
        """Walk elements from ``off``; returns the offset after them (or after ``until``).

        Raises ValueError with the reason when a length overruns, a VR is not one, or tags
        go backwards (the marks of data in another transfer syntax).
        """
        if depth > _MAX_DEPTH:
            raise ValueError(f"sequences nested deeper than {_MAX_DEPTH}")
        last = -1
        while off < end:
            if end - off < 8:
                raise ValueError(f"{end - off} stray byte(s) at byte {off}")
            tag = self.tag_at(off)
            if until is not None and tag == until:
                return off + 8
            if tag >> 16 == 0xFFFE:
                raise ValueError(f"item tag {_tag(tag)} where an element belongs, byte {off}")
            if tag <= last:
                raise ValueError(f"element {_tag(tag)} at byte {off} follows {_tag(last)}")
            last = tag
            vr = b""
            if self.implicit:
                length, head = self.u32(off + 4), 8
            else:
                vr = bytes(self.data[off + 4 : off + 6])
                if vr not in _VRS:
                    raise ValueError(f"element {_tag(tag)} has no VR ({vr!r}): not explicit VR")
                if vr not in _LONG_VRS:
                    length, head = self.u16(off + 6), 8
                elif bytes(self.data[off + 6 : off + 8]) == b"\0\0":
                    if end - off < 12:
                        raise ValueError(f"element {_tag(tag)} header cut at byte {off}")
                    length, head = self.u32(off + 8), 12
                else:
                    length, head = self.quirk_length(off, end)
            body = off + head
            if length == _UNDEFINED:
                off = self.items(body, end, depth + 1, encapsulated=vr in (b"OB", b"OW"))
                continue
            if body + length > end:
                raise ValueError(f"element {_tag(tag)} claims {length} bytes, {end - body} left")
            off = body + length
        if until is not None:
            raise ValueError(f"no delimiter {_tag(until)} before byte {end}")
        return off

    def items(self, off: int, end: int, depth: int, *, encapsulated: bool) -> int:
        """Items of an undefined-length sequence (or encapsulated pixel data) to their end."""
        while True:
            if end - off < 8:
                raise ValueError(f"undefined-length element not closed before byte {end}")
            tag, length = self.tag_at(off), self.u32(off + 4)
            if tag == _SEQ_END:
                return off + 8
            if tag != _ITEM:
                raise ValueError(f"expected an item at byte {off}, got {_tag(tag)}")
            body = off + 8
            if length == _UNDEFINED and not encapsulated:
                off = self.elements(body, end, depth, until=_ITEM_END)
            elif body + length > end:
                raise ValueError(f"item at byte {off} claims {length} bytes, {end - body} left")
            elif encapsulated:
                off = body + length
            else:
                self.elements(body, body + length, depth, until=None)
                off = body + length


def encoding_problem(data: bytes | memoryview, transfer_syntax: str) -> str | None:
    """Why ``data`` (a bare data set) cannot be in ``transfer_syntax``; None if it can.

    Walks every element and item header (values are skipped, never decoded), so a data set
    written in another syntax, or with a length that overruns what was sent, is caught before
    it is acknowledged.
    """
    implicit, little = syntax_flags(transfer_syntax)
    walker = _Walker(data, implicit, little)
    try:
        walker.elements(0, len(data), 0, until=None)
    except ValueError as exc:
        return str(exc)
    except struct.error:  # unpack past the end: a header cut short
        return "element header cut short at the end"
    return None


def inflate_to(data: bytes | memoryview, out: BinaryIO, *, limit: int) -> int:
    """Inflate a Deflate data set (raw deflate, RFC 1951) into ``out`` in 1 MiB steps.

    Returns the decoded size; raises DatasetTooLarge as soon as it would pass ``limit``
    bytes and ValueError when the stream is corrupt or cut short. Memory stays at one step,
    whatever the ratio.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    pending: bytes | memoryview = data
    try:
        while True:
            chunk = inflater.decompress(pending, 1 << 20)
            total += len(chunk)
            if total > limit:
                raise DatasetTooLarge(f"inflates past {limit} bytes (sent {len(data)})")
            out.write(chunk)
            pending = inflater.unconsumed_tail
            if not pending and not chunk:
                break
            if inflater.eof:
                break
        tail = inflater.flush()
    except zlib.error as exc:
        raise ValueError(f"corrupt Deflate stream ({exc})") from None
    total += len(tail)
    if total > limit:
        raise DatasetTooLarge(f"inflates past {limit} bytes (sent {len(data)})")
    out.write(tail)
    if not inflater.eof:
        raise ValueError("Deflate stream cut short")
    return total
