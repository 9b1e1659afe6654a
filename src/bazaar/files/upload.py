"""Receive one multipart upload, streaming its file part to a temp file in chunks.

Starlette's `request.form()` would buffer the whole body before any limit applies; here
python-multipart's push parser is fed the request stream chunk by chunk, the file part's
bytes go straight to disk, and the upload is cut off as soon as it passes the limit."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from bazaar.files.errors import BadUpload, FileTooLarge
from bazaar.files.sniff import HEAD

FIELD_LIMIT = 1024


@dataclass
class Received:
    path: Path
    size: int = 0
    sha256: str = ""
    head: bytes = b""
    filename: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def sanitize_name(name: str) -> str:
    """A display name safe in a header and a file system: the last path segment, NFC,
    letters/digits/`._- ()` only, at most 120 characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[^\w.\- ()]", "_", name, flags=re.UNICODE).strip(" .")
    return name[-120:] or "file"


def _param(params: dict[bytes, bytes], key: bytes) -> str:
    return params.get(key, b"").decode("utf-8", "replace")


async def receive(request: Request, temp: Path, limit: int) -> Received:
    """Stream the body's part named `file` to `temp`; raise BadUpload or FileTooLarge."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise BadUpload()
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise FileTooLarge(details={"limit": limit})

    out = Received(path=temp)
    digest = hashlib.sha256()
    events: list[tuple[str, bytes]] = []
    headers: dict[bytes, bytes] = {}
    header_field = bytearray()
    header_value = bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        events.append(("begin", headers.get(b"content-disposition", b"")))
        headers.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        events.append(("data", bytes(data[start:end])))

    def on_part_end() -> None:
        events.append(("end", b""))

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    seen_file = False
    in_file = False
    name = ""
    value = bytearray()
    ended = False
    async with await anyio.open_file(temp, "wb") as sink:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                for kind, data in events:
                    if kind == "begin":
                        _, disp = parse_options_header(data)
                        name = _param(disp, b"name")
                        in_file = name == "file" and b"filename" in disp
                        if in_file:
                            if seen_file:
                                raise BadUpload("Send exactly one part named `file`")
                            seen_file = True
                            out.filename = sanitize_name(_param(disp, b"filename"))
                        value.clear()
                    elif kind == "data" and in_file:
                        out.size += len(data)
                        if out.size > limit:
                            raise FileTooLarge(
                                f"The file is larger than {limit} bytes", details={"limit": limit}
                            )
                        if len(out.head) < HEAD:
                            out.head += data[: HEAD - len(out.head)]
                        digest.update(data)
                        await sink.write(data)
                    elif kind == "data":
                        value.extend(data)
                        if len(value) > FIELD_LIMIT:
                            raise BadUpload(f"Form field `{name}` is too long")
                    elif kind == "end":
                        if not in_file and name:
                            out.fields[name] = value.decode("utf-8", "replace")
                        in_file = False
                events.clear()
            parser.finalize()
            ended = True
        except (MultipartParseError, ValueError) as exc:
            raise BadUpload(f"Malformed multipart body: {exc}") from None
        except ClientDisconnect:
            raise BadUpload("The upload was interrupted") from None
    if not ended or not seen_file:
        raise BadUpload()
    if out.size == 0:
        raise BadUpload("The file is empty")
    out.sha256 = digest.hexdigest()
    return out
