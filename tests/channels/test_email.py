"""E-mail: SMTP out to a real local server, signed raw RFC 822 in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from bot.channels.base import (
    InboundMessage,
    MalformedWebhook,
    OutboundRequest,
    SendOutcome,
    WebhookRequest,
)
from bot.channels.email import DEFAULT_SUBJECT, EmailConnector
from bot.config import Settings
from bot.domain.channels import Channel
from bot.domain.messages import Content
from bot.domain.windows import SendMode
from tests.channels.conftest import in_words, settings, sha256_signature, signed_post
from tests.fakes.smtp import FakeSmtp, free_port

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
CUSTOMER = "sara@example.com"
WEBHOOK_URL = "https://followup.example.com/webhooks/email"
SECRET = "email-webhook-secret"


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


def settings_for(port: int, **overrides: object) -> Settings:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "email_from": "Acme Support <support@acme.example>",
        "email_webhook_secret": SECRET,
    }
    return settings(values, **overrides)


def connector(port: int, **overrides: object) -> EmailConnector:
    return EmailConnector(
        settings_for(port, **overrides), clock=lambda: NOW, rate_per_second=1000, timeout=1.0
    )


@pytest.fixture
def email(smtp: FakeSmtp) -> EmailConnector:
    return connector(smtp.port)


def outbound(**fields: object) -> OutboundRequest:
    values: dict[str, Any] = {
        "message_id": "m-42",
        "channel": Channel.EMAIL,
        "recipient": CUSTOMER,
        "mode": SendMode.FREE,
        "content": Content("Your fix has shipped."),
        "contact_name": "Sara Ahmed",
    }
    if "text" in fields:
        values["content"] = Content(str(fields.pop("text")))
    values.update(fields)
    return OutboundRequest(**values)


# --- configuration --------------------------------------------------------------------


def test_email_is_offered_only_with_smtp_host_and_sender() -> None:
    assert not EmailConnector.configured(settings())
    assert not EmailConnector.configured(settings(smtp_host="smtp.example.com"))
    assert EmailConnector.configured(
        settings(smtp_host="smtp.example.com", email_from="s@example.com")
    )


# --- sending --------------------------------------------------------------------------


async def test_email_send_delivers_a_plain_text_message_with_our_headers(
    email: EmailConnector, smtp: FakeSmtp
) -> None:
    result = await email.send(outbound())

    assert result.outcome is SendOutcome.SENT
    [delivery] = smtp.deliveries
    assert delivery.mail_from == "support@acme.example"
    assert delivery.rcpt_tos == (CUSTOMER,)
    mail = delivery.message
    assert mail["From"] == "Acme Support <support@acme.example>"
    assert mail["To"] == "Sara Ahmed <sara@example.com>"
    assert mail["Subject"] == DEFAULT_SUBJECT
    assert mail["Message-ID"] == result.channel_message_id
    assert str(mail["Message-ID"]).endswith("@acme.example>")
    assert mail["Date"].datetime == NOW
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    assert mail.get_content().strip() == "Your fix has shipped."
    assert "In-Reply-To" not in mail and "References" not in mail


async def test_email_arabic_text_and_subject_arrive_intact(
    email: EmailConnector, smtp: FakeSmtp
) -> None:
    result = await email.send(
        outbound(
            text="مرحبا سارة، تم إصلاح المشكلة.",
            reply_to="<c1@mail.example.com>",
            reply_subject="مشكلة في الطلب",
            contact_name="سارة أحمد",
        )
    )

    assert result.outcome is SendOutcome.SENT
    mail = smtp.deliveries[0].message
    assert mail["Subject"] == "Re: مشكلة في الطلب"
    assert mail["To"].addresses[0].display_name == "سارة أحمد"
    assert mail.get_content().strip() == "مرحبا سارة، تم إصلاح المشكلة."


async def test_email_reply_is_threaded_under_the_customers_message(
    email: EmailConnector, smtp: FakeSmtp
) -> None:
    await email.send(outbound(reply_to="<c2@mail.example.com>", reply_subject="Order 77"))
    await email.send(outbound(reply_to="<c3@mail.example.com>", reply_subject="RE: Order 77"))

    first, second = (delivery.message for delivery in smtp.deliveries)
    assert first["Subject"] == "Re: Order 77"
    assert first["In-Reply-To"] == first["References"] == "<c2@mail.example.com>"
    assert second["Subject"] == "RE: Order 77"  # one "Re:", however often answered
    assert second["In-Reply-To"] == second["References"] == "<c3@mail.example.com>"


async def test_email_retry_carries_the_same_message_id(
    email: EmailConnector, smtp: FakeSmtp
) -> None:
    first = await email.send(outbound())
    second = await email.send(outbound())

    assert first.channel_message_id == second.channel_message_id
    assert [d.message["Message-ID"] for d in smtp.deliveries] == [first.channel_message_id] * 2


@pytest.mark.parametrize(
    ("ids", "same"),
    [
        (("m-1", "m-1"), True),
        (("m-1", "m-2"), False),
        (("a b", "a-b"), False),
        (("x:y", "x/y"), False),
    ],
    ids=["same-id", "other-id", "space-vs-dash", "unsafe-chars"],
)
def test_email_message_id_derives_from_our_message_id(
    email: EmailConnector, ids: tuple[str, str], same: bool
) -> None:
    first, second = (email.message_id(i) for i in ids)

    assert (first == second) is same
    for value in (first, second):
        assert value.startswith("<") and value.endswith("@acme.example>")
        assert " " not in value and ":" not in value


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_email_login_is_used_when_configured() -> None:
    with FakeSmtp(login=("mailer", "s3cret")) as server:
        good = connector(server.port, smtp_username="mailer", smtp_password="s3cret")
        bad = connector(server.port, smtp_username="mailer", smtp_password="wrong")

        assert (await good.send(outbound())).outcome is SendOutcome.SENT
        refused = await bad.send(outbound())

    assert refused.outcome is SendOutcome.FAILED
    assert "login" in in_words(refused.reason)
    assert "wrong" not in in_words(refused.reason)
    assert len(server.deliveries) == 1


@pytest.mark.parametrize(
    ("rcpt", "data", "outcome", "words"),
    [
        (
            "550 5.1.1 <sara@example.com>: Recipient address rejected: User unknown",
            None,
            SendOutcome.UNREACHABLE,
            "The address was refused: 550",
        ),
        ("553 5.1.3 Bad recipient address syntax", None, SendOutcome.UNREACHABLE, "was refused"),
        ("450 4.2.0 Mailbox busy, try later", None, SendOutcome.RETRY, "deferred"),
        (None, "554 5.7.1 Message rejected as spam", SendOutcome.FAILED, "refused the message"),
        (None, "451 4.3.0 Temporary local problem", SendOutcome.RETRY, "deferred"),
    ],
    ids=["rcpt-550", "rcpt-553", "rcpt-450", "data-554", "data-451"],
)
async def test_email_smtp_refusals_map_to_failed_or_retry(
    email: EmailConnector,
    smtp: FakeSmtp,
    rcpt: str | None,
    data: str | None,
    outcome: SendOutcome,
    words: str,
) -> None:
    if rcpt:
        smtp.refuse_next_rcpt(rcpt)
    if data:
        smtp.refuse_next_data(data)

    result = await email.send(outbound())

    assert result.outcome is outcome
    assert words in in_words(result.reason)
    assert CUSTOMER not in in_words(result.reason)
    assert smtp.deliveries == []


async def test_email_server_down_is_retried() -> None:
    result = await connector(free_port()).send(outbound())

    assert result.outcome is SendOutcome.RETRY
    assert "reach" in in_words(result.reason)


async def test_email_silent_server_times_out_and_is_retried() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets; returns when the client hangs up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        email = EmailConnector(
            settings_for(port), clock=lambda: NOW, rate_per_second=1000, timeout=0.3
        )
        result = await email.send(outbound())
    finally:
        server.close()

    assert result.outcome is SendOutcome.RETRY
    assert "in time" in in_words(result.reason)


async def test_email_starttls_demanded_of_a_server_without_it_fails_in_words(
    smtp: FakeSmtp,
) -> None:
    result = await connector(smtp.port, smtp_starttls=True).send(outbound())

    assert result.outcome is SendOutcome.FAILED
    assert "SMTP_STARTTLS" in in_words(result.reason)


# --- inbound webhook ------------------------------------------------------------------


def customer_mail(
    text: str = "Thanks, it works now.",
    *,
    html: str | None = None,
    plain: bool = True,
    attachments: tuple[tuple[str, str], ...] = (),
    headers: dict[str, str | None] | None = None,
) -> bytes:
    mail = EmailMessage()
    values: dict[str, str | None] = {
        "From": "Sara Ahmed <Sara@Example.com>",
        "To": "support@acme.example",
        "Subject": "Re: Order 77",
        "Date": "Tue, 24 Nov 2026 16:00:00 +0400",
        "Message-ID": "<c3@mail.example.com>",
        "In-Reply-To": "<followup.m-42@acme.example>",
    }
    values.update(headers or {})
    for name, value in values.items():
        if value is not None:
            mail[name] = value
    if plain:
        mail.set_content(text)
        if html is not None:
            mail.add_alternative(html, subtype="html")
    elif html is not None:
        mail.set_content(html, subtype="html")
    for filename, content_type in attachments:
        maintype, subtype = content_type.split("/")
        mail.add_attachment(b"data", maintype=maintype, subtype=subtype, filename=filename)
    return mail.as_bytes()


def signed(body: bytes, secret: str = SECRET) -> WebhookRequest:
    return signed_post(
        WEBHOOK_URL,
        body,
        "X-Email-Signature",
        lambda raw: sha256_signature(secret, raw),
        headers={"Content-Type": "message/rfc822"},
    )


def test_email_webhook_with_a_good_signature_is_parsed(email: EmailConnector) -> None:
    request = signed(customer_mail())
    assert email.verify(request)

    [event] = email.parse(request)

    assert event == InboundMessage(
        channel=Channel.EMAIL,
        identity="sara@example.com",
        channel_message_id="<c3@mail.example.com>",
        sent_at=NOW,
        text="Thanks, it works now.",
        first_name="Sara",
        last_name="Ahmed",
        email="sara@example.com",
        email_message_id="<c3@mail.example.com>",
        subject="Re: Order 77",
    )


@pytest.mark.parametrize(
    "request_",
    [
        signed(customer_mail(), secret="someone-else"),
        WebhookRequest("POST", WEBHOOK_URL, {}, {}, customer_mail()),
        WebhookRequest(
            "POST",
            WEBHOOK_URL,
            signed(customer_mail()).headers,
            {},
            customer_mail("tampered"),
        ),
        WebhookRequest("POST", WEBHOOK_URL, {"X-Email-Signature": "sha256="}, {}, customer_mail()),
    ],
    ids=["wrong-secret", "missing-header", "tampered-body", "empty-signature"],
)
def test_email_webhook_with_a_bad_or_missing_signature_is_refused(
    email: EmailConnector, request_: WebhookRequest
) -> None:
    assert not email.verify(request_)


def test_email_webhook_is_signed_with_webchat_secret_when_no_email_secret(
    smtp: FakeSmtp,
) -> None:
    email = connector(smtp.port, email_webhook_secret=None, webchat_secret="webchat-secret")

    assert email.verify(signed(customer_mail(), secret="webchat-secret"))
    assert not email.verify(signed(customer_mail(), secret=SECRET))


def test_email_webhook_secret_wins_over_webchat_secret(smtp: FakeSmtp) -> None:
    email = connector(smtp.port, webchat_secret="webchat-secret")

    assert email.verify(signed(customer_mail()))
    assert not email.verify(signed(customer_mail(), secret="webchat-secret"))


def test_email_webhook_without_any_secret_is_refused(smtp: FakeSmtp) -> None:
    email = connector(smtp.port, email_webhook_secret=None)

    assert not email.verify(signed(customer_mail(), secret=""))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Works now, thanks!\n\nOn Mon, 23 Nov 2026 at 10:00, Acme Support "
            "<support@acme.example> wrote:\n> Your fix has shipped.\n> Regards",
            "Works now, thanks!",
        ),
        (
            "Still broken.\n\nOn Mon, 23 Nov 2026 at 10:00, Acme Support\n"
            "<support@acme.example> wrote:\n\n> Your fix has shipped.",
            "Still broken.",
        ),
        (
            "Top line\n> quoted line\n>> older quote\nBottom line",
            "Top line\nBottom line",
        ),
        (
            "Thanks\n\n-----Original Message-----\nFrom: Acme Support\nSent: Monday",
            "Thanks",
        ),
        (
            "شكرا، يعمل الآن\n\nفي الاثنين، 23 نوفمبر 2026 في 10:00 ص، كتب Acme Support "
            "<support@acme.example>:\n> تم الإصلاح",
            "شكرا، يعمل الآن",
        ),
        ("On my way to the shop now.\nSee you soon", "On my way to the shop now.\nSee you soon"),
    ],
    ids=["gmail", "wrapped-attribution", "inline-quotes", "outlook", "arabic", "not-a-quote"],
)
def test_email_quoted_reply_history_is_cut(email: EmailConnector, text: str, expected: str) -> None:
    [event] = email.parse(signed(customer_mail(text)))

    assert isinstance(event, InboundMessage)
    assert event.text == expected


def test_email_html_only_message_becomes_text(email: EmailConnector) -> None:
    html = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<p>Hello&nbsp;team,</p><div>it <b>works</b> now &amp; thanks</div>"
        "<blockquote>On Monday you wrote: old text</blockquote></body></html>"
    )

    [event] = email.parse(signed(customer_mail(html=html, plain=False)))

    assert isinstance(event, InboundMessage)
    assert event.text == "Hello team,\n\nit works now & thanks"


def test_email_plain_part_is_preferred_to_html(email: EmailConnector) -> None:
    [event] = email.parse(signed(customer_mail("plain words", html="<p>html words</p>")))

    assert isinstance(event, InboundMessage)
    assert event.text == "plain words"


@pytest.mark.parametrize(
    ("text", "attachments", "expected"),
    [
        ("See attached", (("invoice.pdf", "application/pdf"),), "See attached\n📎 invoice.pdf"),
        (
            "",
            (("photo.jpg", "image/jpeg"), ("notes.txt", "text/plain")),
            "📎 photo.jpg\n📎 notes.txt",
        ),
    ],
    ids=["with-text", "attachments-only"],
)
def test_email_attachments_are_described(
    email: EmailConnector, text: str, attachments: tuple[tuple[str, str], ...], expected: str
) -> None:
    [event] = email.parse(signed(customer_mail(text, attachments=attachments)))

    assert isinstance(event, InboundMessage)
    assert event.text == expected


def test_email_sender_without_display_name_has_no_name(email: EmailConnector) -> None:
    body = customer_mail(headers={"From": "OMAR@Example.COM"})

    [event] = email.parse(signed(body))

    assert isinstance(event, InboundMessage)
    assert (event.identity, event.email) == ("omar@example.com", "omar@example.com")
    assert (event.first_name, event.last_name) == ("", "")


def test_email_date_without_zone_is_read_as_utc(email: EmailConnector) -> None:
    body = customer_mail(headers={"Date": "Tue, 24 Nov 2026 12:00:00 -0000"})

    [event] = email.parse(signed(body))

    assert isinstance(event, InboundMessage)
    assert event.sent_at == NOW


@pytest.mark.parametrize(
    "body",
    [
        b"",
        customer_mail(headers={"Message-ID": None}),
        customer_mail(headers={"Date": None}),
        customer_mail(headers={"Date": "yesterday, around noon"}),
        customer_mail(headers={"From": None}),
        customer_mail(headers={"From": "not an address"}),
        b"this is not an e-mail at all",
    ],
    ids=["empty", "no-message-id", "no-date", "bad-date", "no-from", "bad-from", "garbage"],
)
def test_email_malformed_message_is_refused(email: EmailConnector, body: bytes) -> None:
    with pytest.raises(MalformedWebhook):
        email.parse(signed(body))


def test_email_has_no_handshake_and_replies_200(email: EmailConnector) -> None:
    assert email.handshake(WebhookRequest("GET", WEBHOOK_URL, {}, {}, b"")) is None
    reply = email.reply([])
    assert (reply.status, reply.body) == (200, "")


def test_email_message_ids_from_make_msgid_survive(email: EmailConnector) -> None:
    message_id = make_msgid(domain="mail.example.com")

    [event] = email.parse(signed(customer_mail(headers={"Message-ID": message_id})))

    assert isinstance(event, InboundMessage)
    assert event.channel_message_id == message_id
