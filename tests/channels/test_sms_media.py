"""SMS file sends: Twilio MMS `MediaUrl`s (signed links) between US and Canadian
numbers; elsewhere, or past MMS's limits, refused with nothing sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.channels.base import SendOutcome
from bot.channels.media import MediaFiles
from bot.channels.sms import SmsConnector
from bot.domain.channels import Channel
from bot.domain.media import MB
from bot.domain.messages import Attachment
from tests.channels.conftest import in_words
from tests.channels.media_files import declared, linkable, linked, pattern, stored, with_files
from tests.channels.test_sms import settings_for
from tests.fakes.twilio import FakeTwilio

US_CUSTOMER = "+14155550123"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def sms(twilio: FakeTwilio, http: aiohttp.ClientSession, media: MediaFiles) -> SmsConnector:
    return SmsConnector(
        linkable(settings_for(twilio, sms_from="+12025550100")),
        http,
        rate_per_second=1000,
        media=media.store,
    )


async def test_files_go_as_mms_media_urls_with_the_text(
    twilio: FakeTwilio,
    sms: SmsConnector,
    media: MediaFiles,
) -> None:
    photo = await stored(media, "receipt.jpg", "image/jpeg", pattern(100_000))
    card = await stored(media, "contact.vcf", "text/vcard", pattern(300, "vcf"))
    result = await sms.send(with_files(Channel.SMS, US_CUSTOMER, photo, card, text="Receipt"))
    assert result.outcome is SendOutcome.SENT
    [request] = twilio.requests
    assert request.form["Body"] == "Receipt"
    [urls] = twilio.media_urls
    assert [linked(url) for url in urls] == [photo.key, card.key]


@pytest.mark.parametrize(
    ("recipient", "files", "key"),
    [
        ("+971501234567", [declared("a.jpg", "image/jpeg", 1000)], "send.sms.no_mms"),
        (US_CUSTOMER, [declared("a.jpg", "image/jpeg", 6 * MB)], "media.refused.too_large"),
        (US_CUSTOMER, [declared("a.zip", "application/zip", 1000)], "media.refused.type"),
        (
            US_CUSTOMER,
            [declared(f"{n}.jpg", "image/jpeg", 2 * MB) for n in range(3)],
            "media.refused.too_large",  # 6 MB in all: past the 5 MB of one MMS
        ),
        (
            US_CUSTOMER,
            [declared(f"{n}.jpg", "image/jpeg", 10) for n in range(11)],
            "send.sms.too_many_files",
        ),
    ],
)
async def test_what_mms_cannot_take_is_refused_and_nothing_sent(
    twilio: FakeTwilio,
    sms: SmsConnector,
    recipient: str,
    files: list[Attachment],
    key: str,
) -> None:
    result = await sms.send(with_files(Channel.SMS, recipient, *files, text="Here"))
    assert result.outcome is SendOutcome.FAILED and result.reason is not None
    assert result.reason.key == key and in_words(result.reason)
    assert twilio.requests == []
