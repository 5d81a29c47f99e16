"""E-mail file sends: each file a MIME attachment part, base64 as its bytes
stream from the media store; too large for a mailbox, refused before SMTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.channels.base import SendOutcome
from bot.channels.email import EmailConnector
from bot.channels.media import MediaFiles
from bot.domain.channels import Channel
from bot.domain.media import MB
from tests.channels.conftest import in_words
from tests.channels.media_files import NOW, declared, pattern, stored, with_files
from tests.channels.test_email import CUSTOMER, settings_for
from tests.fakes.smtp import FakeSmtp


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


@pytest.fixture
def email(smtp: FakeSmtp, media: MediaFiles) -> EmailConnector:
    return EmailConnector(
        settings_for(smtp.port),
        clock=lambda: NOW,
        rate_per_second=1000,
        timeout=2.0,
        media=media.store,
    )


async def test_files_arrive_as_attachments_with_their_names_types_and_bytes(
    smtp: FakeSmtp, email: EmailConnector, media: MediaFiles
) -> None:
    invoice_bytes = pattern(1 * MB + 7, "pdf")  # not a multiple of a base64 line
    invoice = await stored(media, "Facture n°17.pdf", "application/pdf", invoice_bytes)
    photo_bytes = pattern(1000)
    photo = await stored(media, "receipt.jpg", "image/jpeg", photo_bytes)
    result = await email.send(
        with_files(Channel.EMAIL, CUSTOMER, invoice, photo, text="Your invoice attached.")
    )
    assert result.outcome is SendOutcome.SENT
    [delivery] = smtp.deliveries
    mail = delivery.message
    assert mail.get_content_type() == "multipart/mixed"
    body = mail.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Your invoice attached."
    first, second = mail.iter_attachments()
    assert (first.get_filename(), first.get_content_type()) == (
        "Facture n°17.pdf",
        "application/pdf",
    )
    assert first.get_content() == invoice_bytes
    assert (second.get_filename(), second.get_content()) == ("receipt.jpg", photo_bytes)
    assert all(len(line) <= 78 for line in delivery.data.split(b"\r\n"))


async def test_a_file_past_the_mailbox_limit_is_refused_and_nothing_sent(
    smtp: FakeSmtp, email: EmailConnector
) -> None:
    result = await email.send(
        with_files(Channel.EMAIL, CUSTOMER, declared("video.mov", "video/quicktime", 19 * MB))
    )
    assert result.outcome is SendOutcome.FAILED and result.reason is not None
    assert result.reason.key == "media.refused.too_large" and "18 MB" in in_words(result.reason)
    assert smtp.deliveries == []
