"""The media limits table and `check` (issue 12, "Attachments out")."""

from __future__ import annotations

import pytest

from bot.domain.channels import Channel
from bot.domain.media import (
    KB,
    MB,
    MEDIA_LIMITS,
    Delivery,
    MediaAccepted,
    MediaKind,
    MediaRefusal,
    check,
    human_size,
    kind_of,
)
from bot.slack.i18n import LANGUAGES, t

W, M, IG, TG, LN, VB, WC, SMS, EM, WEB = (
    Channel.WHATSAPP,
    Channel.MESSENGER,
    Channel.INSTAGRAM,
    Channel.TELEGRAM,
    Channel.LINE,
    Channel.VIBER,
    Channel.WECHAT,
    Channel.SMS,
    Channel.EMAIL,
    Channel.WEBCHAT,
)

ACCEPTED = [
    # channel, mime, size, kind asked, → kind, delivery
    (W, "image/jpeg", 5 * MB, None, MediaKind.IMAGE, Delivery.UPLOAD_THEN_ID),
    (W, "video/mp4", 16 * MB, None, MediaKind.VIDEO, Delivery.UPLOAD_THEN_ID),
    (W, "audio/ogg; codecs=opus", 1 * MB, None, MediaKind.AUDIO, Delivery.UPLOAD_THEN_ID),
    (W, "application/pdf", 100 * MB, None, MediaKind.DOCUMENT, Delivery.UPLOAD_THEN_ID),
    (W, "image/webp", 500 * KB, MediaKind.STICKER, MediaKind.STICKER, Delivery.UPLOAD_THEN_ID),
    (M, "image/png", 25 * MB, None, MediaKind.IMAGE, Delivery.ATTACHMENT),
    (M, "application/zip", 1 * MB, None, MediaKind.DOCUMENT, Delivery.ATTACHMENT),
    (IG, "image/gif", 8 * MB, None, MediaKind.IMAGE, Delivery.ATTACHMENT),
    (TG, "image/jpeg", 1 * MB, None, MediaKind.IMAGE, Delivery.MULTIPART),
    # A photo over 10 MB goes as a document (50 MB).
    (TG, "image/jpeg", 12 * MB, None, MediaKind.DOCUMENT, Delivery.MULTIPART),
    (TG, "application/x-anything", 50 * MB, None, MediaKind.DOCUMENT, Delivery.MULTIPART),
    (LN, "image/png", 10 * MB, None, MediaKind.IMAGE, Delivery.BY_URL),
    (LN, "audio/mp4", 200 * MB, None, MediaKind.AUDIO, Delivery.BY_URL),
    (LN, "video/mp4", 200 * MB, None, MediaKind.VIDEO, Delivery.BY_URL),
    # Viber has no audio message: a voice note goes as a file.
    (VB, "audio/mpeg", 3 * MB, None, MediaKind.DOCUMENT, Delivery.BY_URL),
    (VB, "image/jpeg", 1 * MB, None, MediaKind.IMAGE, Delivery.BY_URL),
    (VB, "image/jpeg", 2 * MB, None, MediaKind.DOCUMENT, Delivery.BY_URL),
    (WC, "audio/amr", 2 * MB, None, MediaKind.AUDIO, Delivery.UPLOAD_THEN_ID),
    (SMS, "image/gif", 5 * MB, None, MediaKind.IMAGE, Delivery.BY_URL),
    (EM, "application/octet-stream", 18 * MB, None, MediaKind.DOCUMENT, Delivery.MIME_PART),
    (WEB, "video/webm", 25 * MB, None, MediaKind.VIDEO, Delivery.BY_URL),
]


@pytest.mark.parametrize(
    ("channel", "mime", "size", "kind", "taken_as", "delivery"),
    ACCEPTED,
    ids=[f"{c}-{m.split(';')[0]}-{s}" for c, m, s, *_ in ACCEPTED],
)
def test_a_file_within_the_channels_limits_is_accepted_its_way(
    channel: Channel,
    mime: str,
    size: int,
    kind: MediaKind | None,
    taken_as: MediaKind,
    delivery: Delivery,
) -> None:
    result = check(channel, mime, size, kind=kind)
    assert isinstance(result, MediaAccepted), result
    assert (result.kind, result.delivery) == (taken_as, delivery)
    assert result.max_bytes >= size


REFUSED = [
    # channel, mime, size, → key, params
    (W, "image/jpeg", 5 * MB + 1, "media.refused.too_large", {"limit": "5 MB"}),
    (W, "video/mp4", 17 * MB, "media.refused.too_large", {"size": "17 MB", "limit": "16 MB"}),
    (W, "application/zip", 1 * MB, "media.refused.type", {"mime": "application/zip"}),
    (W, "image/gif", 1 * MB, "media.refused.type", {"mime": "image/gif"}),
    (M, "image/png", 26 * MB, "media.refused.too_large", {"limit": "25 MB"}),
    (IG, "application/pdf", 1 * MB, "media.refused.type", {"channel": "Instagram"}),
    (TG, "application/pdf", 51 * MB, "media.refused.too_large", {"limit": "50 MB"}),
    # A 60 MB photo fits neither as a photo (10 MB) nor as a document (50 MB).
    (TG, "image/jpeg", 60 * MB, "media.refused.too_large", {"limit": "50 MB"}),
    (LN, "application/pdf", 1 * MB, "media.refused.type", {"channel": "LINE"}),
    (LN, "video/quicktime", 1 * MB, "media.refused.type", {"channel": "LINE"}),
    (LN, "video/mp4", 201 * MB, "media.refused.too_large", {"limit": "200 MB"}),
    (VB, "image/jpeg", 51 * MB, "media.refused.too_large", {"limit": "50 MB"}),
    (WC, "application/pdf", 1 * MB, "media.refused.type", {"channel": "WeChat"}),
    (WC, "audio/amr", 3 * MB, "media.refused.too_large", {"limit": "2 MB"}),
    (SMS, "application/zip", 1 * MB, "media.refused.type", {"channel": "SMS"}),
    (SMS, "image/png", 5 * MB + 1, "media.refused.too_large", {"limit": "5 MB"}),
    (EM, "text/plain", 0, "media.refused.empty", {"channel": "E-mail"}),
    (WEB, "nonsense", 10, "media.refused.type", {"mime": "nonsense"}),
]


@pytest.mark.parametrize(
    ("channel", "mime", "size", "key", "params"),
    REFUSED,
    ids=[f"{c}-{m}-{s}" for c, m, s, *_ in REFUSED],
)
def test_a_file_the_channel_cannot_take_is_refused_with_a_reason(
    channel: Channel, mime: str, size: int, key: str, params: dict[str, str]
) -> None:
    result = check(channel, mime, size)
    assert isinstance(result, MediaRefusal), result
    assert result.key == key
    assert params.items() <= result.params.items()
    for lang in LANGUAGES:  # the reason reads in both languages
        assert t(result.key, lang, **result.params)


def test_media_max_bytes_lowers_every_limit() -> None:
    assert isinstance(check(W, "application/pdf", 50 * MB), MediaAccepted)
    capped = check(W, "application/pdf", 50 * MB, cap=10 * MB)
    assert isinstance(capped, MediaRefusal) and capped.params["limit"] == "10 MB"
    ok = check(W, "application/pdf", 10 * MB, cap=10 * MB)
    assert isinstance(ok, MediaAccepted) and ok.max_bytes == 10 * MB


def test_every_channel_has_a_row_citing_its_source_and_takes_images() -> None:
    assert set(MEDIA_LIMITS) == set(Channel)
    for channel, row in MEDIA_LIMITS.items():
        assert row.source, channel
        assert MediaKind.IMAGE in row.kinds, channel
        assert row.largest >= row.kinds[MediaKind.IMAGE].max_bytes
    assert MEDIA_LIMITS[TG].inbound_max_bytes == 20 * MB


@pytest.mark.parametrize(
    ("mime", "kind"),
    [
        ("image/png", MediaKind.IMAGE),
        ("video/mp4", MediaKind.VIDEO),
        ("audio/ogg", MediaKind.AUDIO),
        ("application/pdf", MediaKind.DOCUMENT),
        ("text/plain", MediaKind.DOCUMENT),
    ],
)
def test_the_mime_family_suggests_the_kind(mime: str, kind: MediaKind) -> None:
    assert kind_of(mime) is kind


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KB"), (5 * MB, "5 MB"), (MB + MB // 10, "1.1 MB")],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text
