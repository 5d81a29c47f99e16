"""WeChat file sends: the text, then each file uploaded as temporary media
(multipart `media`, streamed) and sent by its `media_id` as a customer-service
image, voice or video message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.channels.base import SendOutcome
from bot.channels.media import MediaFiles
from bot.channels.wechat import WeChatConnector
from bot.domain.channels import Channel
from bot.domain.media import MB
from bot.domain.messages import Attachment
from tests.channels.conftest import in_words
from tests.channels.media_files import declared, digest, pattern, stored, with_files
from tests.channels.test_wechat import OPENID, make_connector
from tests.conftest import StoreEnv
from tests.fakes.wechat import SEND_PATH, UPLOAD_PATH, FakeWeChat


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    async with FakeWeChat() as server:
        yield server


@pytest.fixture
def connector(
    env: StoreEnv, fake: FakeWeChat, http: aiohttp.ClientSession, media: MediaFiles
) -> WeChatConnector:
    return make_connector(env, fake, http, media=media.store)


async def test_the_text_goes_then_each_file_is_uploaded_and_sent_by_media_id(
    fake: FakeWeChat, connector: WeChatConnector, media: MediaFiles
) -> None:
    data = pattern(300_000)
    photo = await stored(media, "receipt.png", "image/png", data)
    voice = await stored(media, "note.amr", "audio/amr", pattern(20_000, "amr"))
    result = await connector.send(with_files(Channel.WECHAT, OPENID, photo, voice, text="Here"))
    assert result.outcome is SendOutcome.SENT and result.channel_message_id == "m-1"
    calls = [
        (r.path, r.query.get("type")) for r in fake.requests if r.path != "/cgi-bin/stable_token"
    ]
    assert calls == [
        (SEND_PATH, None),
        (UPLOAD_PATH, "image"),
        (SEND_PATH, None),
        (UPLOAD_PATH, "voice"),
        (SEND_PATH, None),
    ]
    text, image, audio = (r.json for r in fake.sends)
    assert text == {"touser": OPENID, "msgtype": "text", "text": {"content": "Here"}}
    image_id, voice_id = fake.media
    assert image == {"touser": OPENID, "msgtype": "image", "image": {"media_id": image_id}}
    assert audio == {"touser": OPENID, "msgtype": "voice", "voice": {"media_id": voice_id}}
    kept = fake.media[image_id]
    assert (kept.file_field, kept.filename, kept.size) == ("media", "receipt.png", 300_000)
    assert kept.sha256 == digest(data)
    assert all(r.query["access_token"] == fake.current_token for r in fake.uploads)


@pytest.mark.parametrize(
    ("file", "key", "words"),
    [
        (declared("a.pdf", "application/pdf", 100), "media.refused.type", "WeChat does not"),
        (declared("a.mp3", "audio/mpeg", 3 * MB), "media.refused.too_large", "2 MB"),
    ],
)
async def test_what_wechat_cannot_take_is_refused_and_nothing_sent(
    fake: FakeWeChat, connector: WeChatConnector, file: Attachment, key: str, words: str
) -> None:
    result = await connector.send(with_files(Channel.WECHAT, OPENID, file, text="Here"))
    assert result.outcome is SendOutcome.FAILED and result.reason is not None
    assert result.reason.key == key and words in in_words(result.reason)
    assert fake.requests == []


async def test_an_upload_with_a_revoked_token_is_tried_once_more_with_a_fresh_one(
    fake: FakeWeChat, connector: WeChatConnector, media: MediaFiles
) -> None:
    clip = await stored(media, "clip.mp4", "video/mp4", pattern(1000))
    assert (
        await connector.send(with_files(Channel.WECHAT, OPENID, clip))
    ).outcome is SendOutcome.SENT
    fake.revoked.add(fake.current_token)  # revoked, still cached by us
    fake.current_token = "token-9"
    result = await connector.send(with_files(Channel.WECHAT, OPENID, clip))
    assert result.outcome is SendOutcome.SENT
    assert [r.query["access_token"] for r in fake.uploads][-2:] == ["token-1", "token-9"]
