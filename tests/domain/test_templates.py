"""WhatsApp templates as Meta builds them: needs, unsupported parts, checks,
send-time components and previews (bot.domain.templates)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain import templates as t
from bot.domain.templates import InputKind, Template
from tests.fakes.graph import template_mismatch


def graph_template(*components: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One `data` entry of `GET /{WABA-ID}/message_templates`."""
    return {
        "name": extra.pop("name", "promo"),
        "language": extra.pop("language", "en_US"),
        "status": extra.pop("status", "APPROVED"),
        "category": extra.pop("category", "MARKETING"),
        "id": "594425479261596",
        "components": list(components),
        **extra,
    }


BODY = {
    "type": "BODY",
    "text": "Hi {{1}}, your order {{2}} ships today.",
    "example": {"body_text": [["Pablo", "860198-230332"]]},
}
NAMED_BODY = {
    "type": "BODY",
    "text": "Hi {{first_name}}, use {{code}} before {{first_name}} forgets.",
    "example": {
        "body_text_named_params": [
            {"param_name": "code", "example": "25OFF"},
            {"param_name": "first_name", "example": "Pablo"},
        ]
    },
}
IMAGE_HEADER = {
    "type": "HEADER",
    "format": "IMAGE",
    "example": {"header_handle": ["https://scontent.whatsapp.net/v/t61/example.png"]},
}
TEXT_HEADER = {
    "type": "HEADER",
    "format": "TEXT",
    "text": "Order {{1}}",
    "example": {"header_text": ["A-42"]},
}
NAMED_TEXT_HEADER = {
    "type": "HEADER",
    "format": "TEXT",
    "text": "Sale starts {{start}}!",
    "example": {"header_text_named_params": [{"param_name": "start", "example": "May 1"}]},
}
FOOTER = {"type": "FOOTER", "text": "Reply STOP to opt out"}
TRACKING = {
    "type": "URL",
    "text": "Track it",
    "url": "https://shop.example/track/{{1}}",
    "example": ["https://shop.example/track/860198-230332"],
}
BUTTONS = {
    "type": "BUTTONS",
    "buttons": [
        TRACKING,
        {"type": "QUICK_REPLY", "text": "Stop promos"},
        {"type": "COPY_CODE", "example": "25OFF"},
        {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550051234"},
        {"type": "URL", "text": "Shop", "url": "https://shop.example/"},
    ],
}


def parsed(*components: dict[str, Any], **extra: Any) -> Template:
    template = t.parse_template(graph_template(*components, **extra))
    assert template is not None
    return template


# --- what each kind of template needs -------------------------------------------------


@pytest.mark.parametrize(
    ("components", "extra", "expected"),
    [
        (
            (BODY,),
            {},
            [("body.1", InputKind.BODY, "Pablo"), ("body.2", InputKind.BODY, "860198-230332")],
        ),
        (
            (NAMED_BODY,),
            {"parameter_format": "NAMED"},
            [("body.first_name", InputKind.BODY, "Pablo"), ("body.code", InputKind.BODY, "25OFF")],
        ),
        ((TEXT_HEADER,), {}, [("header", InputKind.HEADER_TEXT, "A-42")]),
        (
            (NAMED_TEXT_HEADER,),
            {"parameter_format": "NAMED"},
            [("header", InputKind.HEADER_TEXT, "May 1")],
        ),
        (({"type": "HEADER", "format": "TEXT", "text": "Hello"},), {}, []),
        (
            (IMAGE_HEADER,),
            {},
            [("header", InputKind.HEADER_MEDIA, "https://scontent.whatsapp.net/v/t61/example.png")],
        ),
        (({"type": "HEADER", "format": "VIDEO"},), {}, [("header", InputKind.HEADER_MEDIA, "")]),
        (({"type": "HEADER", "format": "DOCUMENT"},), {}, [("header", InputKind.HEADER_MEDIA, "")]),
        (
            (BUTTONS,),
            {},
            [
                ("button.0", InputKind.URL_SUFFIX, "860198-230332"),
                ("button.1", InputKind.QUICK_REPLY, "Stop promos"),
                ("button.2", InputKind.COPY_CODE, "25OFF"),
            ],
        ),
        ((FOOTER,), {}, []),
        ((), {}, []),
    ],
    ids=[
        "positional-body",
        "named-body-first-use-order",
        "text-header-parameter",
        "named-text-header",
        "static-text-header",
        "image-header",
        "video-header",
        "document-header",
        "buttons-url-quick-reply-copy-code",
        "footer-only",
        "nothing",
    ],
)
def test_needs_lists_each_input_with_its_example(
    components: tuple[dict[str, Any], ...], extra: dict[str, Any], expected: list[Any]
) -> None:
    template = parsed(*components, **extra)
    assert template.sendable
    assert [(i.key, i.kind, i.example) for i in t.needs(template)] == expected


def test_needs_orders_header_body_then_buttons_and_defaults_the_quick_reply() -> None:
    template = parsed(BUTTONS, BODY, IMAGE_HEADER, FOOTER)
    inputs = t.needs(template)
    assert [i.key for i in inputs] == [
        "header",
        "body.1",
        "body.2",
        "button.0",
        "button.1",
        "button.2",
    ]
    quick = inputs[4]
    assert (quick.required, quick.default) == (False, "Stop promos")
    assert inputs[0].media == "image"


@pytest.mark.parametrize(
    ("component", "key", "part"),
    [
        ({"type": "HEADER", "format": "LOCATION"}, t.UNSUPPORTED_LOCATION, "LOCATION"),
        (
            {"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Book", "flow_id": "1"}]},
            t.UNSUPPORTED_FLOW,
            "FLOW",
        ),
        ({"type": "CAROUSEL", "cards": []}, t.UNSUPPORTED_CAROUSEL, "CAROUSEL"),
        (
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
            t.UNSUPPORTED_OTP,
            "OTP",
        ),
        ({"type": "HEADER", "format": "PRODUCT"}, t.UNSUPPORTED_OTHER, "PRODUCT header"),
        (
            {"type": "BUTTONS", "buttons": [{"type": "CATALOG", "text": "View"}]},
            t.UNSUPPORTED_OTHER,
            "CATALOG button",
        ),
        ({"type": "LIMITED_TIME_OFFER"}, t.UNSUPPORTED_OTHER, "LIMITED_TIME_OFFER"),
    ],
    ids=["location-header", "flow-button", "carousel", "otp", "product-header", "catalog", "lto"],
)
def test_what_we_cannot_supply_disables_the_template_with_its_reason(
    component: dict[str, Any], key: str, part: str
) -> None:
    template = parsed(BODY, component)
    assert template.unsupported == (key, part)
    assert not template.sendable
    assert t.needs(template) == ()


def test_static_buttons_need_nothing() -> None:
    template = parsed(
        BODY,
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550051234"},
                {"type": "URL", "text": "Site", "url": "https://shop.example/"},
            ],
        },
    )
    assert template.sendable
    assert [i.kind for i in t.needs(template)] == [InputKind.BODY, InputKind.BODY]


def test_a_template_without_name_or_language_is_skipped() -> None:
    assert t.parse_template({"language": "en"}) is None
    assert t.parse_template({"name": "x", "language": ""}) is None


def test_category_status_and_language_are_read() -> None:
    template = parsed(BODY, language="ar", category="utility", status="PAUSED")
    assert (template.language, template.category, template.status) == ("ar", "UTILITY", "PAUSED")
    assert template.field == "promo:ar"
    assert not template.sendable


# --- checking the agent's values ---------------------------------------------------------

FULL = parsed(IMAGE_HEADER, BODY, FOOTER, BUTTONS)
GOOD = {
    "header": "https://cdn.example/p.png",
    "body.1": "Amina",
    "body.2": "A-77",
    "button.0": "A-77",
    "button.2": "SAVE10",
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, []),
        ({"body.2": ""}, [("body.2", t.MISSING)]),
        ({"header": ""}, [("header", t.MISSING)]),
        ({"header": "http://cdn.example/p.png"}, [("header", t.NOT_HTTPS)]),
        ({"header": "https:///nohost"}, [("header", t.NOT_HTTPS)]),
        ({"header": "cdn.example/p.png"}, [("header", t.NOT_HTTPS)]),
        ({"body.1": "two\nlines"}, [("body.1", t.BAD_FORMAT)]),
        ({"body.1": "too     spaced"}, [("body.1", t.BAD_FORMAT)]),
        ({"body.1": "x" * 1020}, [("body.1", t.TOO_LONG)]),
        ({"button.0": "has space"}, [("button.0", t.NO_SPACES)]),
        ({"button.2": "WAYTOOLONGCODE16"}, [("button.2", t.TOO_LONG)]),
        ({"button.1": "p" * 129}, [("button.1", t.TOO_LONG)]),
        ({"body.3": "extra"}, [("body.3", t.UNEXPECTED)]),
        ({"body.3": "  "}, []),
    ],
    ids=[
        "all-good",
        "missing-body",
        "missing-media",
        "http-link",
        "link-without-host",
        "not-a-link",
        "newline",
        "five-spaces",
        "filled-body-over-1024",
        "url-suffix-space",
        "coupon-over-15",
        "payload-over-cap",
        "one-parameter-too-many",
        "empty-extra-ignored",
    ],
)
def test_check_names_the_field_and_the_problem(
    change: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    problems = t.check(FULL, {**GOOD, **change})
    assert [(p.key, p.error) for p in problems] == expected


def test_check_text_header_filled_length() -> None:
    template = parsed(TEXT_HEADER, BODY)
    values = {"body.1": "a", "body.2": "b"}
    assert t.check(template, {**values, "header": "x" * 54}) == []
    problems = t.check(template, {**values, "header": "x" * 55})
    assert [(p.key, p.error, p.params["limit"]) for p in problems] == [("header", t.TOO_LONG, 60)]


def test_check_refuses_every_value_of_an_unsupported_template() -> None:
    template = parsed(BODY, {"type": "HEADER", "format": "LOCATION"})
    assert [p.error for p in t.check(template, {"body.1": "a"})] == [t.UNEXPECTED]


# --- the send-time components ----------------------------------------------------------------


def test_components_for_image_header_body_and_every_button_in_metas_shapes() -> None:
    components = t.send_components(t.fill(FULL, GOOD))
    assert components == [
        {
            "type": "header",
            "parameters": [{"type": "image", "image": {"link": "https://cdn.example/p.png"}}],
        },
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "Amina"}, {"type": "text", "text": "A-77"}],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": "0",
            "parameters": [{"type": "text", "text": "A-77"}],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "1",
            "parameters": [{"type": "payload", "payload": "Stop promos"}],
        },
        {
            "type": "button",
            "sub_type": "copy_code",
            "index": "2",
            "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}],
        },
    ]


@pytest.mark.parametrize(
    ("components", "extra", "values", "media_id", "expected"),
    [
        (
            (NAMED_TEXT_HEADER, NAMED_BODY),
            {"parameter_format": "NAMED"},
            {"header": "June 3", "body.first_name": "Amina", "body.code": "X1"},
            None,
            [
                {
                    "type": "header",
                    "parameters": [{"type": "text", "parameter_name": "start", "text": "June 3"}],
                },
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "parameter_name": "first_name", "text": "Amina"},
                        {"type": "text", "parameter_name": "code", "text": "X1"},
                    ],
                },
            ],
        ),
        (
            (TEXT_HEADER,),
            {},
            {"header": "B-1"},
            None,
            [{"type": "header", "parameters": [{"type": "text", "text": "B-1"}]}],
        ),
        (
            ({"type": "HEADER", "format": "DOCUMENT"},),
            {},
            {},
            "1013859600285441",
            [
                {
                    "type": "header",
                    "parameters": [{"type": "document", "document": {"id": "1013859600285441"}}],
                }
            ],
        ),
        (
            ({"type": "HEADER", "format": "VIDEO"},),
            {},
            {"header": "https://cdn.example/v.mp4"},
            None,
            [
                {
                    "type": "header",
                    "parameters": [
                        {"type": "video", "video": {"link": "https://cdn.example/v.mp4"}}
                    ],
                }
            ],
        ),
        (({"type": "HEADER", "format": "TEXT", "text": "Hi"}, FOOTER), {}, {}, None, []),
    ],
    ids=["named-header-and-body", "text-header", "document-by-id", "video-link", "no-parameters"],
)
def test_components_by_kind(
    components: tuple[dict[str, Any], ...],
    extra: dict[str, Any],
    values: dict[str, str],
    media_id: str | None,
    expected: list[dict[str, Any]],
) -> None:
    template = parsed(*components, **extra)
    assert t.send_components(t.fill(template, values, media_id=media_id)) == expected


def test_fill_round_trips_through_its_codec() -> None:
    filled = t.fill(FULL, {**GOOD, "body.1": "أمينة"})
    assert t.decode_fill(t.encode_fill(filled)) == filled
    assert t.decode_fill(None) == () == t.decode_fill("")


# --- the preview ---------------------------------------------------------------------


def test_preview_shows_the_message_as_the_customer_sees_it() -> None:
    shown = t.preview(FULL, GOOD)
    assert (shown.media, shown.media_link) == ("image", "https://cdn.example/p.png")
    assert shown.body == "Hi Amina, your order A-77 ships today."
    assert shown.footer == "Reply STOP to opt out"
    assert [(b.kind, b.text, b.target) for b in shown.buttons] == [
        ("URL", "Track it", "https://shop.example/track/A-77"),
        ("QUICK_REPLY", "Stop promos", ""),
        ("COPY_CODE", "", "SAVE10"),
        ("PHONE_NUMBER", "Call us", "+15550051234"),
        ("URL", "Shop", "https://shop.example/"),
    ]


def test_preview_keeps_placeholders_for_what_is_not_given_yet() -> None:
    template = parsed(NAMED_TEXT_HEADER, NAMED_BODY, parameter_format="NAMED")
    shown = t.preview(template, {"body.code": "X1"})
    assert shown.header == "Sale starts {{start}}!"
    assert shown.body == "Hi {{first_name}}, use X1 before {{first_name}} forgets."
    assert t.preview(parsed(TEXT_HEADER), {"header": "B-2"}).header == "Order B-2"


def test_body_parameters_keep_the_composers_names() -> None:
    template = parsed(NAMED_BODY, parameter_format="NAMED")
    assert template.parameter_names == ("first_name", "code")
    assert template.parameter_count == 2
    assert template.placeholder(2) == "{{code}}"
    assert template.render(("Amina", "X1")) == "Hi Amina, use X1 before Amina forgets."
    positional = parsed(BODY)
    assert (positional.parameter_count, positional.parameter_label(2)) == (2, "2")
    with pytest.raises(ValueError):
        positional.render(("one",))


# --- what Meta (the fake Graph API) says of the components -------------------------------------

RICH = graph_template(IMAGE_HEADER, BODY, FOOTER, BUTTONS)
NAMED_RICH = graph_template(NAMED_TEXT_HEADER, NAMED_BODY, parameter_format="NAMED")


@pytest.mark.parametrize(
    ("template", "values"),
    [
        (RICH, GOOD),
        (NAMED_RICH, {"header": "June 3", "body.first_name": "Amina", "body.code": "X1"}),
        (graph_template(TEXT_HEADER, BODY), {"header": "B-1", "body.1": "a", "body.2": "b"}),
        (graph_template(FOOTER), {}),
    ],
    ids=["image-body-buttons", "named", "text-header", "nothing-to-fill"],
)
def test_the_components_built_fit_the_template_as_meta_checks_it(
    template: dict[str, Any], values: dict[str, str]
) -> None:
    parsed_template = t.parse_template(template)
    assert parsed_template is not None
    assert t.check(parsed_template, values) == []
    assert template_mismatch(template, t.send_components(t.fill(parsed_template, values))) is None


def _without(components: list[dict[str, Any]], kind: str, index: str = "") -> list[dict[str, Any]]:
    return [c for c in components if not (c["type"] == kind and c.get("index", "") == index)]


GOOD_COMPONENTS = t.send_components(t.fill(FULL, GOOD))


@pytest.mark.parametrize(
    ("components", "problem"),
    [
        (_without(GOOD_COMPONENTS, "header"), "header: one image parameter"),
        (
            [
                {"type": "body", "parameters": [{"type": "text", "text": "only one"}]},
                *_without(GOOD_COMPONENTS, "body"),
            ],
            "body: expected number of params (2) does not match 1",
        ),
        (_without(GOOD_COMPONENTS, "button", "0"), "button 0: its URL parameter is missing"),
        (_without(GOOD_COMPONENTS, "button", "2"), "button 2: its COPY_CODE parameter is missing"),
        (_without(GOOD_COMPONENTS, "button", "1"), None),  # a quick reply may be left out
        (
            [
                *GOOD_COMPONENTS[:2],
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "4",
                    "parameters": [{"type": "text", "text": "x"}],
                },
            ],
            "button 4: the URL has no variable",
        ),
        ([], "header: one image parameter"),
    ],
    ids=[
        "no-header",
        "body-count",
        "no-url-suffix",
        "no-coupon",
        "quick-reply-optional",
        "static-url-given",
        "nothing",
    ],
)
def test_the_fake_refuses_what_meta_refuses(
    components: list[dict[str, Any]], problem: str | None
) -> None:
    found = template_mismatch(RICH, components)
    assert (found if problem is None else (found or "")[: len(problem)]) == problem


@pytest.mark.parametrize(
    ("languages", "preferred", "expected"),
    [
        (("en_US", "ar"), "ar", "ar"),
        (("en_US", "ar"), "en", "en_US"),
        (("en", "en_GB", "ar"), "en_GB", "en_GB"),
        (("fr",), "ar", "fr"),
        ((), "en", None),
    ],
    ids=["arabic-agent", "english-agent-regional", "exact-region", "fallback-first", "none"],
)
def test_the_language_defaults_to_the_agents_where_the_template_has_it(
    languages: tuple[str, ...], preferred: str, expected: str | None
) -> None:
    assert t.default_language(languages, preferred) == expected
