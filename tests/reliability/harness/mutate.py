"""Seeded mutators: bit flips, truncations, absurd sizes, wrong VRs, deep sequences.

Every mutator takes the seed's bytes and a ``random.Random`` and returns new bytes; the
format-aware ones (DICOM element headers, PNG IHDR, raw sidecar YAML) fall back to a bit flip
when the structure they look for is absent. Nothing here depends on wall-clock or global state,
so a campaign is reproduced exactly from its seed.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable

Mutator = Callable[[bytes, random.Random], bytes]

#: DICOM tags whose value is an image size or layout (explicit VR little endian headers)
SIZE_TAGS = {
    (0x0028, 0x0010): "US",  # Rows
    (0x0028, 0x0011): "US",  # Columns
    (0x0028, 0x0100): "US",  # BitsAllocated
    (0x0028, 0x0101): "US",  # BitsStored
    (0x0028, 0x0002): "US",  # SamplesPerPixel
    (0x0028, 0x0008): "IS",  # NumberOfFrames
}
VRS = [b"SQ", b"OB", b"OW", b"UN", b"US", b"UL", b"FD", b"DS", b"IS", b"UI", b"AT", b"OD", b"XX"]
INTERESTING_U16 = [0, 1, 0x7FFF, 0x8000, 0xFFFF]
INTERESTING_U32 = [0, 1, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF, 0x10000000]


def bit_flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def byte_set(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x01])
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 2:
        return data
    if rng.random() < 0.3:  # near the start: inside the header
        return data[: rng.randrange(1, min(len(data), 400) + 1)]
    return data[: rng.randrange(1, len(data))]


def duplicate_span(data: bytes, rng: random.Random) -> bytes:
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, 64))
    at = rng.randrange(len(data))
    return data[:at] + data[a:b] + data[at:]


def _headers(data: bytes) -> list[int]:
    """Offsets of plausible explicit-VR little-endian element headers (group, element, VR)."""
    found = []
    for i in range(0, len(data) - 8):
        if data[i + 4 : i + 6].isalpha() and data[i + 4 : i + 6].isupper():
            group = int.from_bytes(data[i : i + 2], "little")
            if group in (0x0002, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028, 0x4010, 0x7FE0):
                found.append(i)
        if len(found) > 400:
            break
    return found


def dicom_size(data: bytes, rng: random.Random) -> bytes:
    """Rows/Columns/BitsAllocated/... set to absurd values (terabytes of pixels)."""
    out = bytearray(data)
    hits = False
    for (group, element), vr in SIZE_TAGS.items():
        head = struct.pack("<HH", group, element) + vr.encode()
        at = out.find(head)
        if at < 0 or rng.random() < 0.4:
            continue
        hits = True
        if vr == "US":
            out[at + 8 : at + 10] = struct.pack("<H", rng.choice(INTERESTING_U16))
        else:
            length = int.from_bytes(out[at + 6 : at + 8], "little")
            text = str(rng.choice([0, -1, 2**31, 10**12])).encode()
            out[at + 8 : at + 8 + length] = text[:length].ljust(length, b" ")
    return bytes(out) if hits else bit_flip(data, rng)


def dicom_vr(data: bytes, rng: random.Random) -> bytes:
    """A random element's VR replaced by another (wrong VR), or its length made absurd."""
    heads = _headers(data)
    if not heads:
        return bit_flip(data, rng)
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        at = rng.choice(heads)
        if rng.random() < 0.6:
            out[at + 4 : at + 6] = rng.choice(VRS)
        elif bytes(out[at + 4 : at + 6]) in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"OD", b"OL"):
            out[at + 8 : at + 12] = struct.pack("<I", rng.choice(INTERESTING_U32))
        else:
            out[at + 6 : at + 8] = struct.pack("<H", rng.choice(INTERESTING_U16))
    return bytes(out)


def deep_sequence(depth: int) -> bytes:
    """A Part 10 file whose dataset nests ``depth`` undefined-length sequences."""
    sq_open = struct.pack("<HH", 0x0040, 0xA730) + b"SQ\x00\x00" + b"\xff\xff\xff\xff"
    item_open = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    item_close = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    sq_close = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    body = (sq_open + item_open) * depth + (item_close + sq_close) * depth
    return _part10(_element(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.501.3\x00") + body)


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH", group, element) + vr + struct.pack("<H", len(value)) + value


def _part10(dataset: bytes) -> bytes:
    ts = b"1.2.840.10008.1.2.1\x00"
    meta = _element(0x0002, 0x0010, b"UI", ts)
    group_len = _element(0x0002, 0x0000, b"UL", b"")[:6] + struct.pack("<HI", 4, len(meta))
    return b"\x00" * 128 + b"DICM" + group_len + meta + dataset


def png_size(data: bytes, rng: random.Random) -> bytes:
    """IHDR width/height/depth set to absurd values with a recomputed CRC (passes checks)."""
    at = data.find(b"IHDR")
    if at < 0 or len(data) < at + 21:
        return bit_flip(data, rng)
    body = bytearray(data[at : at + 17])
    w = rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 100_000, int.from_bytes(body[4:8], "big")])
    h = rng.choice([0, 1, 0x7FFFFFFF, 100_000, int.from_bytes(body[8:12], "big")])
    body[4:12] = struct.pack(">II", w, h)
    if rng.random() < 0.3:
        body[12] = rng.choice([1, 2, 4, 8, 16, 32])
        body[13] = rng.choice([0, 2, 3, 4, 6, 7])
    crc = struct.pack(">I", zlib.crc32(bytes(body)))
    return data[:at] + bytes(body) + crc + data[at + 21 :]


def yaml_sidecar(text: str, rng: random.Random) -> str:
    """Absurd or wrongly typed sidecar values (sizes asking for terabytes, bad dtypes)."""
    choice = rng.randrange(7)
    if choice == 0:
        return text.replace("width: 64", f"width: {rng.choice([10**7, 2**40, -1, 0])}")
    if choice == 1:
        return text.replace("height: 48", f"height: {rng.choice(['1e9', 2**33, '[1, 2]', 'x'])}")
    if choice == 2:
        return text.replace("uint16", rng.choice(["object", "V8", "S4", "complex64", "<u2", ""]))
    if choice == 3:
        return text + f"header_bytes: {rng.choice([-5, 2**62, 'a'])}\n"
    if choice == 4:
        return text.replace("[0.8, 0.8]", rng.choice(["[nan, inf]", "[0, -1]", "7", "[1,2,3]"]))
    if choice == 5:  # alias fan-out ("billion laughs"): safe_load shares, never expands
        bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        for k in "bcdefgh":
            prev = chr(ord(k) - 1)
            bomb += f"{k}: &{k} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        return text + bomb
    raw = bytearray(text.encode())
    raw[rng.randrange(len(raw))] = rng.randrange(256)
    return raw.decode("latin-1")


GENERIC: list[Mutator] = [bit_flip, byte_set, truncate, duplicate_span]
BY_KIND: dict[str, list[Mutator]] = {
    ".dcm": [*GENERIC, dicom_size, dicom_size, dicom_vr, dicom_vr],
    ".png": [*GENERIC, png_size, png_size],
    ".tif": GENERIC,
    ".raw": [truncate, duplicate_span],
}


def mutate(data: bytes, suffix: str, rng: random.Random) -> bytes:
    """One to three stacked mutations chosen for the file kind."""
    pool = BY_KIND.get(suffix, GENERIC)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        data = rng.choice(pool)(data, rng) or b"\x00"
    return data
