"""A local S3 (moto's server mode on a free 127.0.0.1 port) and media settings."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

try:
    from moto.server import ThreadedMotoServer
except ImportError as missing:  # a virtualenv made before moto joined the dev extra
    raise ImportError(
        "moto[server] and aiobotocore are new: .venv/bin/pip install -e '.[dev,embedded]'"
    ) from missing

from bot.config import Settings
from bot.media.s3 import S3MediaStore, botocore_session
from bot.media.store import FileMediaStore, MediaStore


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 in server mode, spoken to over HTTP like any S3-compatible store."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_settings(endpoint: str, bucket: str, **more: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        media_store_url=f"s3://{bucket}/media",
        aws_endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # type: ignore[arg-type]
        aws_region="us-east-1",
        **more,
    )


async def make_bucket(endpoint: str) -> str:
    bucket = f"followup-{uuid.uuid4().hex[:12]}"
    async with botocore_session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as s3:
        await s3.create_bucket(Bucket=bucket)
    return bucket


@pytest_asyncio.fixture(params=["file", "s3"])
async def media_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MediaStore]:
    """The same test on the directory store and on the S3 store."""
    store: MediaStore
    if request.param == "file":
        store = FileMediaStore(tmp_path / "media")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = await make_bucket(endpoint)
        store = S3MediaStore(s3_settings(endpoint, bucket), bucket=bucket, prefix="media")
    try:
        yield store
    finally:
        await store.close()
