"""What a file is, judged from its first bytes (never the name or the client's header).

`filetype` recognises binary formats by their magic numbers; images are then re-checked by
decoding their header (dimensions must parse and be sane), so a file that merely starts
with an image signature is refused. Text is recognised as UTF-8 with no NUL bytes."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import filetype

from bazaar.files.errors import FileTypeNotAllowed, InvalidImage

# How much of the start of an upload is kept to judge it (JPEG frames can sit after a
# large EXIF block).
HEAD = 256 * 1024
MAX_SIDE = 20_000

IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
DOCUMENTS = frozenset({"application/pdf", "text/plain"})
VIDEO = frozenset({"video/mp4"})

ALLOWED: dict[str, frozenset[str]] = {
    "avatar": IMAGES,
    "blog": IMAGES,
    "attachment": IMAGES | DOCUMENTS,
    "evidence": IMAGES | DOCUMENTS | VIDEO,
}
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "video/mp4": "mp4",
}


@dataclass(frozen=True)
class Judged:
    content_type: str
    width: int | None = None
    height: int | None = None


def _is_text(head: bytes, complete: bool) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the head is still text.
        return not complete and exc.start >= len(head) - 3
    return True


def judge(head: bytes, purpose: str, *, complete: bool) -> Judged:
    """The stored type of a file starting with `head` (`complete`: the whole file), or a
    415 error when it is not on `purpose`'s allow-list."""
    allowed = ALLOWED[purpose]
    kind = filetype.guess(head)
    mime = kind.mime if kind is not None else None
    if mime is None and _is_text(head, complete):
        mime = "text/plain"
    if mime not in allowed:
        seen = mime or "unrecognised content"
        raise FileTypeNotAllowed(
            f"A {purpose} must be one of {', '.join(sorted(allowed))}; this file is {seen}",
            details={"detected": mime, "allowed": sorted(allowed)},
        )
    if mime in IMAGES:
        size = image_size(head, mime)
        if size is None:
            raise InvalidImage()
        return Judged(mime, *size)
    return Judged(mime)


def image_size(head: bytes, mime: str) -> tuple[int, int] | None:
    """(width, height) decoded from the image header, or None if it does not decode."""
    try:
        size = _SIZERS[mime](head)
    except (struct.error, IndexError, ValueError):
        return None
    if size is None:
        return None
    w, h = size
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        return None
    return size


def _png(b: bytes) -> tuple[int, int] | None:
    if b[:8] != b"\x89PNG\r\n\x1a\n" or b[12:16] != b"IHDR":
        return None
    (length,) = struct.unpack(">I", b[8:12])
    if length != 13:
        return None
    w, h = struct.unpack(">II", b[16:24])
    depth, color = b[24], b[25]
    if depth not in (1, 2, 4, 8, 16) or color not in (0, 2, 3, 4, 6):
        return None
    return w, h


def _gif(b: bytes) -> tuple[int, int] | None:
    if b[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    w, h = struct.unpack("<HH", b[6:10])
    return w, h


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(b: bytes) -> tuple[int, int] | None:
    if b[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", b[i + 2 : i + 4])
        if length < 2:
            return None
        if marker in _SOF:
            h, w = struct.unpack(">HH", b[i + 5 : i + 9])
            return w, h
        if marker in (0xD9, 0xDA):  # end of image or scan before any frame header
            return None
        i += 2 + length
    return None


def _webp(b: bytes) -> tuple[int, int] | None:
    if b[:4] != b"RIFF" or b[8:12] != b"WEBP":
        return None
    chunk = b[12:16]
    if chunk == b"VP8 ":
        if b[23:26] != b"\x9d\x01\x2a":
            return None
        w, h = struct.unpack("<HH", b[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        if b[20] != 0x2F:
            return None
        (bits,) = struct.unpack("<I", b[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        w = int.from_bytes(b[24:27], "little") + 1
        h = int.from_bytes(b[27:30], "little") + 1
        return w, h
    return None


_SIZERS = {"image/png": _png, "image/gif": _gif, "image/jpeg": _jpeg, "image/webp": _webp}
