"""A multipart upload as a fake API reads it: the form's fields, and its one file
streamed through a hash (name, type, size, SHA-256), never held whole.

Used by the fakes of the APIs that take a file upload: the Graph API's WhatsApp
media upload and WeChat's temporary media upload.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from aiohttp import BodyPartReader, web


@dataclass(frozen=True)
class Upload:
    """One multipart upload as the fake read it."""

    path: str
    fields: dict[str, str]
    file_field: str
    filename: str
    content_type: str
    size: int
    sha256: str

    @property
    def method(self) -> str:
        """The last segment of the path: an API's method (`sendPhoto`)."""
        return self.path.rsplit("/", 1)[-1]


async def read_upload(request: web.Request) -> Upload | str:
    """The form with its file; what is wrong with it (words) when it is not one."""
    if request.content_type != "multipart/form-data":
        return "not multipart/form-data"
    fields: dict[str, str] = {}
    upload: Upload | None = None
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            return "nested multipart"
        if part.filename is None:
            fields[part.name] = await part.text()
            continue
        digest, size = hashlib.sha256(), 0
        while chunk := await part.read_chunk(256 * 1024):
            digest.update(chunk)
            size += len(chunk)
        content_type = part.headers.get("Content-Type", "application/octet-stream")
        upload = Upload(
            request.path, fields, part.name, part.filename, content_type, size, digest.hexdigest()
        )
    if upload is None:
        return "no file in the form"
    return upload
