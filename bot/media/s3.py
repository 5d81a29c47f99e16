"""The media store in an S3-compatible bucket (AWS S3, MinIO, …), with aiobotocore.

A file goes up in one `PutObject` when it fits in one part, else as a
multipart upload of `PART_BYTES` parts (S3 wants every part but the last at
least 5 MiB: https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html),
so at most one part is held at a time. A file comes down as the object's body
stream. Retention lists the prefix and deletes what is older than the cutoff.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiobotocore.session import AioSession, get_session
from botocore.config import Config
from botocore.exceptions import ClientError

from bot.config import Settings
from bot.media.store import (
    CHUNK_BYTES,
    MediaNotFound,
    MediaReader,
    MediaTooLarge,
    StoredMedia,
    is_media_name,
    new_name,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

__all__ = ["PART_BYTES", "S3MediaStore", "botocore_session"]

PART_BYTES = 8 * 1024 * 1024
#: DeleteObjects takes at most 1,000 keys.
_DELETE_BATCH = 1000


_session: AioSession | None = None


def botocore_session() -> AioSession:
    """One session for the process: it loads S3's service model (about half a
    second) once, not once per client."""
    global _session
    if _session is None:
        _session = get_session()
    return _session


@dataclass(frozen=True, slots=True)
class _ObjectReader:
    content_type: str
    size: int
    body: Any

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.body.iter_chunks(CHUNK_BYTES):
            yield chunk


class S3MediaStore:
    """Objects `<prefix>/<name>` in `bucket`; the client opens on first use."""

    def __init__(self, settings: Settings, *, bucket: str, prefix: str = "") -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        secret = settings.aws_secret_access_key
        token = settings.aws_session_token
        self._client_args: dict[str, Any] = {
            "region_name": settings.aws_region or "us-east-1",
            "endpoint_url": settings.aws_endpoint_url,
            "aws_access_key_id": settings.aws_access_key_id,
            "aws_secret_access_key": secret.get_secret_value() if secret else None,
            "aws_session_token": token.get_secret_value() if token else None,
            "config": Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=30),
        }
        self._stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None

    async def _s3(self) -> S3Client:
        if self._client is None:
            self._client = await self._stack.enter_async_context(
                botocore_session().create_client("s3", **self._client_args)
            )
        return self._client

    def _key(self, name: str) -> str:
        if not is_media_name(name):
            raise MediaNotFound(name)
        return self.prefix + name

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredMedia:
        s3 = await self._s3()
        name = new_name(content_type)
        key = self.prefix + name
        part = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise MediaTooLarge(max_bytes)
                part += chunk
                if len(part) >= PART_BYTES:
                    if upload_id is None:
                        started = await s3.create_multipart_upload(
                            Bucket=self.bucket, Key=key, ContentType=content_type
                        )
                        upload_id = started["UploadId"]
                    number = len(parts) + 1
                    sent = await s3.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=bytes(part),
                    )
                    parts.append({"ETag": sent["ETag"], "PartNumber": number})
                    part.clear()
            if upload_id is None:
                await s3.put_object(
                    Bucket=self.bucket, Key=key, Body=bytes(part), ContentType=content_type
                )
                return StoredMedia(name, size, content_type)
            if part or not parts:
                number = len(parts) + 1
                sent = await s3.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=bytes(part),
                )
                parts.append({"ETag": sent["ETag"], "PartNumber": number})
            await s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
        except BaseException:
            if upload_id is not None:
                with contextlib.suppress(ClientError, OSError):
                    await s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        return StoredMedia(name, size, content_type)

    @contextlib.asynccontextmanager
    async def open(self, name: str) -> AsyncIterator[MediaReader]:
        key = self._key(name)
        s3 = await self._s3()
        try:
            answer = await s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise MediaNotFound(name) from None
            raise
        body = answer["Body"]
        try:
            yield _ObjectReader(
                answer.get("ContentType") or "application/octet-stream",
                int(answer["ContentLength"]),
                body,
            )
        finally:
            body.close()

    async def delete(self, name: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket, Key=self._key(name))

    async def remove_older_than(self, cutoff: datetime) -> int:
        s3 = await self._s3()
        old: list[str] = []
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                name = item["Key"].removeprefix(self.prefix)
                if is_media_name(name) and item["LastModified"] < cutoff:
                    old.append(item["Key"])
        for start in range(0, len(old), _DELETE_BATCH):
            batch = old[start : start + _DELETE_BATCH]
            await s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
        return len(old)

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None
