"""The composer with templates as Meta builds them (issue 12): one input per value a
template needs, field-level problems, unavailable templates listed, languages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.channels import Channel
from bot.domain.messages import TemplateUse
from bot.domain.templates import InputKind, parse_template
from bot.domain.windows import Form
from bot.services.compose_checks import Field, request_for, template_components, validate
from bot.services.compose_plan import ComposePlan, Draft, plan_for
from bot.store.templates import WhatsAppTemplate
from tests.handlers.test_views import contact_with, decisions

CLOSED = {Channel.WHATSAPP: timedelta(days=2)}


def synced(language: str, body: str, **extra: object) -> WhatsAppTemplate:
    template = parse_template(
        {
            "name": "order_shipped",
            "language": language,
            "status": "APPROVED",
            "category": "UTILITY",
            "components": [
                {"type": "HEADER", "format": "IMAGE"},
                {"type": "BODY", "text": body, "example": {"body_text": [["Sara"]]}},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {
                            "type": "URL",
                            "text": "Track",
                            "url": "https://acme.example/t/{{1}}",
                            "example": ["https://acme.example/t/A-17"],
                        }
                    ],
                },
            ],
            **extra,
        }
    )
    assert template is not None
    return template


EN = synced("en_US", "Hi {{1}}, your order has shipped.")
AR = synced("ar", "مرحبا {{1}}، تم شحن طلبك.")
VISIT = parse_template(
    {
        "name": "store_visit",
        "language": "en_US",
        "category": "MARKETING",
        "components": [{"type": "HEADER", "format": "LOCATION"}, {"type": "BODY", "text": "Hi"}],
    }
)
assert VISIT is not None
TEMPLATES = [EN, AR, VISIT]


def plan(draft: Draft) -> ComposePlan:
    contact = contact_with(CLOSED)
    return plan_for(contact, "U1", decisions(contact), TEMPLATES, draft)


def test_the_plan_asks_for_header_body_and_url_suffix_and_lists_the_unavailable() -> None:
    chosen = plan(Draft(channel=Channel.WHATSAPP, form=Form.TEMPLATE, template=AR.field))
    assert [t.field for t in chosen.templates] == [EN.field, AR.field]
    assert [t.field for t in chosen.unavailable] == [VISIT.field]
    assert [(i.key, i.kind) for i in chosen.inputs] == [
        ("header", InputKind.HEADER_MEDIA),
        ("body.1", InputKind.BODY),
        ("button.0", InputKind.URL_SUFFIX),
    ]
    assert chosen.draft.params == ("", "", "")
    assert [t.language for t in chosen.languages] == ["en_US", "ar"]
    assert chosen.preview == "مرحبا {{1}}، تم شحن طلبك."


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (("https://cdn.example/p.png", "Sara", "A-17"), []),
        (("", "Sara", "A-17"), [(1, "compose.template.error.missing")]),
        (("http://cdn.example/p.png", "Sara", "A-17"), [(1, "compose.template.error.https")]),
        (("https://cdn.example/p.png", "", "A-17"), [(2, "compose.error.missing_param")]),
        (("https://cdn.example/p.png", "Sara", ""), [(3, "compose.template.error.missing")]),
        (("https://cdn.example/p.png", "Sara"), [(3, "compose.template.error.missing")]),
    ],
    ids=["good", "no-image", "http-image", "no-body", "no-suffix", "one-value-short"],
)
def test_each_problem_sits_on_its_input(
    params: tuple[str, ...], expected: list[tuple[int, str]]
) -> None:
    draft = Draft(channel=Channel.WHATSAPP, form=Form.TEMPLATE, template=EN.field, params=params)
    problems = validate(plan(draft), draft)
    assert [(p.index, p.key) for p in problems] == expected
    assert all(p.field is Field.PARAM for p in problems)


def test_the_request_carries_the_body_values_and_the_components() -> None:
    draft = Draft(
        channel=Channel.WHATSAPP,
        form=Form.TEMPLATE,
        template=AR.field,
        params=("https://cdn.example/p.png", "سارة", "A-17"),
    )
    chosen = plan(draft)
    request = request_for(chosen, draft, "key-1")
    components = template_components(chosen, draft)
    assert [(p.kind, p.value) for p in components] == [
        (InputKind.HEADER_MEDIA, "https://cdn.example/p.png"),
        (InputKind.BODY, "سارة"),
        (InputKind.URL_SUFFIX, "A-17"),
    ]
    assert request.content.template == TemplateUse(
        "order_shipped", "ar", ("سارة",), components=components
    )


def test_an_unavailable_template_cannot_be_chosen() -> None:
    draft = Draft(channel=Channel.WHATSAPP, form=Form.TEMPLATE, template=VISIT.field)
    chosen = plan(draft)
    assert chosen.draft.template is None
    assert [p.field for p in validate(chosen, draft)] == [Field.TEMPLATE]
