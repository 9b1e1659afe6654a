"""Where the bytes live, behind one interface so an S3-compatible backend can be added.

`LocalStorage` keeps them under `<DATA_DIR>/uploads/<2 hex>/<key>`; uploads are first
written to `<root>/.tmp/` and moved into place (same file system, atomic) once checked."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import anyio

from bazaar.config import Settings

CHUNK = 64 * 1024


class Storage(Protocol):
    async def new_temp(self) -> Path: ...

    async def put(self, temp: Path, key: str) -> None: ...

    async def delete(self, key: str) -> None: ...

    def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]: ...

    async def exists(self, key: str) -> bool: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / ".tmp"

    def _path(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise ValueError("bad storage key")
        return self.root / key[:2] / key

    async def new_temp(self) -> Path:
        await anyio.to_thread.run_sync(lambda: self.tmp.mkdir(parents=True, exist_ok=True))
        return self.tmp / uuid.uuid4().hex

    async def put(self, temp: Path, key: str) -> None:
        target = self._path(key)

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)

        await anyio.to_thread.run_sync(move)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def exists(self, key: str) -> bool:
        path = self._path(key)
        return await anyio.to_thread.run_sync(path.is_file)

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes `start`..`end` inclusive, in chunks."""
        async with await anyio.open_file(self._path(key), "rb") as f:
            await f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = await f.read(min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    async def sweep_temp(self, older_than: float) -> int:
        """Remove temp files last written before `older_than` (epoch seconds): uploads a
        crash left half-written."""

        def sweep() -> int:
            count = 0
            if not self.tmp.is_dir():
                return 0
            for entry in os.scandir(self.tmp):
                if entry.is_file() and entry.stat().st_mtime < older_than:
                    Path(entry.path).unlink(missing_ok=True)
                    count += 1
            return count

        return await anyio.to_thread.run_sync(sweep)


def get_storage(settings: Settings) -> LocalStorage:
    return LocalStorage(Path(settings.data_dir) / "uploads")
