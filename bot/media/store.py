"""The media store: where files sent or received live while channels fetch them.

Media never goes into Redis. Two stores behind one contract: a directory (the
default, under `DATA_DIR`) and any S3-compatible bucket (`bot.media.s3`).
Files go in as a stream and come out as a stream: a store never holds a whole
file (the S3 store holds one multipart part at most). Each file is named by the
store (`new_name`): 32 random hex digits and the type's extension, so no name
a caller or a request gives can reach outside the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import os
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

__all__ = [
    "CHUNK_BYTES",
    "FileMediaStore",
    "MediaNotFound",
    "MediaReader",
    "MediaStore",
    "MediaTooLarge",
    "StoredMedia",
    "extension_for",
    "is_media_name",
    "new_name",
]

#: Bytes read or written at a time.
CHUNK_BYTES = 64 * 1024
_NAME = re.compile(r"[0-9a-f]{32}(?:\.[a-z0-9]{1,5})?")
_META = ".meta"


class MediaTooLarge(Exception):
    """The stream went past `max_bytes`; nothing was kept."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


class MediaNotFound(Exception):
    """No such file (never stored, removed, or expired)."""


@dataclass(frozen=True, slots=True)
class StoredMedia:
    name: str
    size: int
    content_type: str


class MediaReader(Protocol):
    """An open stored file: its type, its size, and its bytes as a stream."""

    @property
    def content_type(self) -> str: ...

    @property
    def size(self) -> int: ...

    def chunks(self) -> AsyncIterator[bytes]: ...


class MediaStore(Protocol):
    """Where media files live (see the module docstring)."""

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredMedia:
        """Store a stream under a new name; `MediaTooLarge` past `max_bytes` (nothing kept)."""
        ...

    def open(self, name: str) -> contextlib.AbstractAsyncContextManager[MediaReader]:
        """The stored file `name`; `MediaNotFound` when there is none."""
        ...

    async def delete(self, name: str) -> None:
        """Remove `name` (nothing when it is gone already)."""
        ...

    async def remove_older_than(self, cutoff: datetime) -> int:
        """Remove every file stored before `cutoff`; how many went."""
        ...

    async def close(self) -> None: ...


def extension_for(content_type: str) -> str:
    """`image/jpeg` → `.jpg`: some channels want the type in the URL's last segment
    (Viber: "a .mp4 file extension as the last path segment")."""
    mime = content_type.split(";", 1)[0].strip().lower()
    preferred = {"image/jpeg": ".jpg", "audio/mpeg": ".mp3", "text/plain": ".txt"}
    extension = preferred.get(mime) or mimetypes.guess_extension(mime) or ""
    return extension if re.fullmatch(r"\.[a-z0-9]{1,5}", extension) else ""


def new_name(content_type: str) -> str:
    """A fresh, unguessable file name with the type's extension."""
    return secrets.token_hex(16) + extension_for(content_type)


def is_media_name(name: str) -> bool:
    """A name the stores make (and only such a name is ever opened)."""
    return _NAME.fullmatch(name) is not None


def _checked(name: str) -> str:
    if not is_media_name(name):
        raise MediaNotFound(name)
    return name


@dataclass(frozen=True, slots=True)
class _FileReader:
    path: Path
    content_type: str
    size: int
    handle: IO[bytes]

    async def chunks(self) -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(self.handle.read, CHUNK_BYTES):
            yield chunk


class FileMediaStore:
    """Files in one directory: `<name>` and its type in `<name>.meta`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredMedia:
        name = new_name(content_type)
        path = self.directory / name
        partial = path.with_name(f"{name}.part")
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        handle = await asyncio.to_thread(partial.open, "wb")
        size = 0
        try:
            try:
                async for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise MediaTooLarge(max_bytes)
                    await asyncio.to_thread(handle.write, chunk)
            finally:
                await asyncio.to_thread(handle.close)
            meta = json.dumps({"content_type": content_type, "size": size})
            await asyncio.to_thread(path.with_name(name + _META).write_text, meta, "utf-8")
            await asyncio.to_thread(os.replace, partial, path)
        except BaseException:
            await asyncio.to_thread(partial.unlink, missing_ok=True)
            await asyncio.to_thread(path.with_name(name + _META).unlink, missing_ok=True)
            raise
        return StoredMedia(name, size, content_type)

    @contextlib.asynccontextmanager
    async def open(self, name: str) -> AsyncIterator[MediaReader]:
        path = self.directory / _checked(name)
        try:
            meta = json.loads(await asyncio.to_thread(path.with_name(name + _META).read_text))
            handle = await asyncio.to_thread(path.open, "rb")
        except (OSError, ValueError) as error:
            raise MediaNotFound(name) from error
        try:
            size = os.fstat(handle.fileno()).st_size
            yield _FileReader(path, str(meta.get("content_type")), size, handle)
        finally:
            await asyncio.to_thread(handle.close)

    async def delete(self, name: str) -> None:
        path = self.directory / _checked(name)
        await asyncio.to_thread(path.unlink, missing_ok=True)
        await asyncio.to_thread(path.with_name(name + _META).unlink, missing_ok=True)

    async def remove_older_than(self, cutoff: datetime) -> int:
        return await asyncio.to_thread(self._remove_older_than, cutoff.timestamp())

    def _remove_older_than(self, cutoff: float) -> int:
        removed = 0
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return 0
        for entry in entries:
            name = entry.name.removesuffix(_META).removesuffix(".part")
            if not is_media_name(name):
                continue  # not ours: left alone
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += entry.name == name
        return removed

    async def close(self) -> None:
        return None
