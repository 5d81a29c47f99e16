"""WhatsApp message templates as Meta builds them. Pure: no I/O.

A synced template (`GET /{WABA-ID}/message_templates`, fields `name`,
`language`, `status`, `category`, `parameter_format`, `components`;
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/components)
is read into `Template`. From it:

* `needs`: the ordered inputs an agent fills (a TEXT header parameter, a
  media header, body parameters, a URL button's dynamic suffix, a
  QUICK_REPLY payload, a COPY_CODE value), each with the template's own
  example as placeholder;
* `Template.unsupported`: what we cannot supply (a LOCATION header, a FLOW
  button, a carousel…), as a catalogue key: such a template is listed but
  disabled;
* `check`: the agent's values, with field-level catalogue keys, so a wrong
  parameter count never reaches Meta (error 132000);
* `fill` then `send_components`: the send-time `components` array in the
  shapes of https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
  and the components reference
  https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages#template-object;
* `preview`: header, body, footer and buttons as the customer will see them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "FilledParameter",
    "HeaderFormat",
    "InputKind",
    "Template",
    "TemplateButton",
    "TemplateInput",
    "TemplatePreview",
    "ValueProblem",
    "check",
    "decode_fill",
    "default_language",
    "encode_fill",
    "fill",
    "fill_from_rows",
    "fill_rows",
    "needs",
    "parse_template",
    "preview",
    "send_components",
]

#: `{{1}}` (POSITIONAL) and `{{first_name}}` (NAMED: lower case, digits, underscores).
_POSITIONAL = re.compile(r"\{\{(\d+)\}\}")
_NAMED = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}")
_ANY = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")

# --- limits (Meta's, cited; ours where Meta gives none) -----------------------

#: A TEXT header, filled in, is at most 60 characters; a body 1,024 (error
#: 132005 past it). https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/components
HEADER_TEXT_MAX = 60
BODY_MAX = 1024
#: A URL button's URL, suffix included: 2,000 characters.
URL_MAX = 2000
#: A coupon code: 15 characters.
#: https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/marketing-templates/coupon-templates
COPY_CODE_MAX = 15
#: Our own bound on a quick reply payload (it comes back to us in the reply webhook).
PAYLOAD_MAX = 128
#: A media header link: ours, well inside what a URL may be.
LINK_MAX = 2000

# --- catalogue keys ---------------------------------------------------------------

MISSING = "compose.template.error.missing"  # label
BAD_FORMAT = "compose.template.error.format"  # label
NO_SPACES = "compose.template.error.spaces"  # label
TOO_LONG = "compose.template.error.too_long"  # label, limit
NOT_HTTPS = "compose.template.error.https"  # label
UNEXPECTED = "compose.template.error.unexpected"  # label

UNSUPPORTED_LOCATION = "compose.template.unsupported.location"
UNSUPPORTED_FLOW = "compose.template.unsupported.flow"
UNSUPPORTED_CAROUSEL = "compose.template.unsupported.carousel"
UNSUPPORTED_OTP = "compose.template.unsupported.otp"
#: Anything else (a GIF or PRODUCT header, a catalog button, a limited-time
#: offer, a component Meta adds later): `part` names it.
UNSUPPORTED_OTHER = "compose.template.unsupported.other"  # part


class HeaderFormat(StrEnum):
    TEXT = "TEXT"
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENT"
    LOCATION = "LOCATION"


#: Header formats whose send parameter is a media object (`image`, `video`, `document`).
MEDIA_HEADERS = (HeaderFormat.IMAGE, HeaderFormat.VIDEO, HeaderFormat.DOCUMENT)


class InputKind(StrEnum):
    """What one input of a template asks the agent for."""

    HEADER_TEXT = "header_text"
    HEADER_MEDIA = "header_media"
    BODY = "body"
    URL_SUFFIX = "url_suffix"
    QUICK_REPLY = "quick_reply"
    COPY_CODE = "copy_code"


@dataclass(frozen=True, slots=True)
class TemplateButton:
    """One button of the BUTTONS component; `index` is its 0-based position there."""

    kind: str  # URL, QUICK_REPLY, COPY_CODE, PHONE_NUMBER, FLOW, OTP, …
    index: int
    text: str = ""
    url: str = ""  # URL: the approved URL, `{{1}}` at its end when dynamic
    phone_number: str = ""
    example: str = ""  # URL: the example URL; COPY_CODE: the example code

    @property
    def dynamic(self) -> bool:
        """A URL button whose URL ends in a suffix the sender supplies."""
        return self.kind == "URL" and _ANY.search(self.url) is not None

    @property
    def url_prefix(self) -> str:
        return _ANY.split(self.url, maxsplit=1)[0] if self.dynamic else self.url

    @property
    def suffix_example(self) -> str:
        """The example's part after the URL's fixed prefix (the whole example otherwise)."""
        prefix = self.url_prefix
        if self.example.startswith(prefix):
            return self.example[len(prefix) :]
        return self.example


@dataclass(frozen=True, slots=True)
class Template:
    """An approved (or not) template in one language, its components read."""

    name: str
    language: str
    category: str = ""  # MARKETING, UTILITY, AUTHENTICATION
    body: str = ""
    status: str = "APPROVED"
    named: bool = False  # parameter_format NAMED: `{{first_name}}`, sent with parameter_name
    header_format: HeaderFormat | None = None
    header_text: str = ""
    #: TEXT: the example of its one parameter; media: the example handle/URL.
    header_example: str = ""
    #: Examples of the body parameters, in `body_parameters` order.
    body_examples: tuple[str, ...] = ()
    footer: str = ""
    buttons: tuple[TemplateButton, ...] = ()
    #: Why we cannot send it (catalogue key and the part it is about), or None.
    unsupported: tuple[str, str] | None = None

    @property
    def field(self) -> str:
        """`name:language`: one template in one language."""
        return f"{self.name}:{self.language}"

    @property
    def sendable(self) -> bool:
        return self.unsupported is None and self.status == "APPROVED"

    # --- body parameters (the names the composer has always used) ----------------

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """A NAMED template's body parameters in first-use order; empty when POSITIONAL."""
        return _names(self.body) if self.named else ()

    @property
    def parameter_count(self) -> int:
        """How many body parameters it takes ({{1}} … {{n}}, or its names)."""
        if self.named:
            return len(self.parameter_names)
        return max((int(n) for n in _POSITIONAL.findall(self.body)), default=0)

    def parameter_label(self, n: int) -> str:
        """Body parameter `n` (1-based) as the agent knows it: its number or its name."""
        return self.parameter_names[n - 1] if self.named else str(n)

    def placeholder(self, n: int) -> str:
        """Body parameter `n` (1-based) as the body writes it."""
        return f"{{{{{self.parameter_label(n)}}}}}"

    def render(self, params: Sequence[str]) -> str:
        """The body with its parameters filled in."""
        if len(params) != self.parameter_count:
            raise ValueError(f"{self.name} takes {self.parameter_count} parameters")
        return _substitute(self.body, self.named, self.parameter_names, params)

    @property
    def header_parameter(self) -> str:
        """A TEXT header's one parameter (`1` or its name), or "" when it has none."""
        if self.header_format is not HeaderFormat.TEXT:
            return ""
        found = (_names if self.named else _numbers)(self.header_text)
        return found[0] if found else ""


def _names(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_NAMED.findall(text)))


def _numbers(text: str) -> tuple[str, ...]:
    return tuple(sorted(set(_POSITIONAL.findall(text)), key=int))


def _substitute(text: str, named: bool, names: Sequence[str], values: Sequence[str]) -> str:
    if named:
        by_name = dict(zip(names, values, strict=True))
        return _NAMED.sub(lambda m: by_name.get(m.group(1), m.group(0)), text)
    return _POSITIONAL.sub(
        lambda m: values[int(m.group(1)) - 1] if 0 < int(m.group(1)) <= len(values) else m.group(0),
        text,
    )


# --- reading Meta's template ---------------------------------------------------------

#: Buttons that need nothing at send time.
_STATIC_BUTTONS = frozenset({"PHONE_NUMBER", "VOICE_CALL"})
_UNSUPPORTED_BUTTONS = {"FLOW": UNSUPPORTED_FLOW, "OTP": UNSUPPORTED_OTP}


def parse_template(item: Mapping[str, Any]) -> Template | None:
    """One entry of the template list's `data`, or None when it has no name or language."""
    name, language = item.get("name"), item.get("language")
    if not isinstance(name, str) or not name or not isinstance(language, str) or not language:
        return None
    named = str(item.get("parameter_format") or "POSITIONAL").upper() == "NAMED"
    parts: dict[str, Any] = {}
    unsupported: tuple[str, str] | None = None

    def refuse(key: str, part: str) -> None:
        nonlocal unsupported
        unsupported = unsupported or (key, part)

    for component in item.get("components") or []:
        if not isinstance(component, Mapping):
            continue
        kind = str(component.get("type") or "").upper()
        example = component.get("example")
        example = example if isinstance(example, Mapping) else {}
        if kind == "HEADER":
            fmt = str(component.get("format") or "TEXT").upper()
            if fmt == "LOCATION":
                refuse(UNSUPPORTED_LOCATION, "LOCATION")
                parts["header_format"] = HeaderFormat.LOCATION
            elif fmt in HeaderFormat.__members__:
                parts["header_format"] = HeaderFormat(fmt)
                parts["header_text"] = str(component.get("text") or "")
                parts["header_example"] = _header_example(example)
            else:
                refuse(UNSUPPORTED_OTHER, f"{fmt} header")
        elif kind == "BODY":
            parts["body"] = str(component.get("text") or "")
            parts["body_examples"] = _body_examples(example, named, parts["body"])
        elif kind == "FOOTER":
            parts["footer"] = str(component.get("text") or "")
        elif kind == "BUTTONS":
            buttons = []
            for index, raw in enumerate(component.get("buttons") or []):
                button = _button(raw, index)
                buttons.append(button)
                if button.kind in _UNSUPPORTED_BUTTONS:
                    refuse(_UNSUPPORTED_BUTTONS[button.kind], button.kind)
                elif button.kind not in ("URL", "QUICK_REPLY", "COPY_CODE", *_STATIC_BUTTONS):
                    refuse(UNSUPPORTED_OTHER, f"{button.kind} button")
            parts["buttons"] = tuple(buttons)
        elif kind == "CAROUSEL":
            refuse(UNSUPPORTED_CAROUSEL, "CAROUSEL")
        else:
            refuse(UNSUPPORTED_OTHER, kind or "component")
    return Template(
        name=name,
        language=language,
        category=str(item.get("category") or "").upper(),
        status=str(item.get("status") or "APPROVED").upper(),
        named=named,
        unsupported=unsupported,
        **parts,
    )


def _first_text(value: Any) -> str:
    """The first string of `value`, a string or a (nested) list of them."""
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else ""


def _header_example(example: Mapping[str, Any]) -> str:
    named = example.get("header_text_named_params")
    if isinstance(named, list) and named and isinstance(named[0], Mapping):
        return str(named[0].get("example") or "")
    return _first_text(example.get("header_text")) or _first_text(example.get("header_handle"))


def _body_examples(example: Mapping[str, Any], named: bool, body: str) -> tuple[str, ...]:
    """The body's examples, one per parameter in `Template.parameter_names` / number order."""
    if named:
        given = {
            str(p.get("param_name")): str(p.get("example") or "")
            for p in example.get("body_text_named_params") or []
            if isinstance(p, Mapping)
        }
        return tuple(given.get(n, "") for n in _names(body))
    rows = example.get("body_text")
    row = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], list) else []
    return tuple(str(v) for v in row)


def _button(raw: Any, index: int) -> TemplateButton:
    if not isinstance(raw, Mapping):
        return TemplateButton(kind="UNKNOWN", index=index)
    return TemplateButton(
        kind=str(raw.get("type") or "UNKNOWN").upper(),
        index=index,
        text=str(raw.get("text") or ""),
        url=str(raw.get("url") or ""),
        phone_number=str(raw.get("phone_number") or ""),
        example=_first_text(raw.get("example")),
    )


# --- what a template needs ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateInput:
    """One value the agent supplies; `key` names it in forms and in `values`."""

    key: str  # header, body.1 / body.first_name, button.0
    kind: InputKind
    label: str  # the parameter's number or name, the button's text
    example: str = ""  # the template's own example: the input's placeholder
    required: bool = True
    max_length: int = 0
    index: int = 0  # BODY: 1-based position; buttons: the button index
    name: str = ""  # a NAMED parameter's name
    default: str = ""  # QUICK_REPLY: the payload sent when the agent leaves it empty
    media: str = ""  # HEADER_MEDIA: image, video or document


def needs(template: Template) -> tuple[TemplateInput, ...]:
    """Every input `template` takes, in the order the customer reads them (empty when
    it is unsupported: nothing of it can be sent)."""
    if template.unsupported is not None:
        return ()
    inputs: list[TemplateInput] = []
    header = template.header_format
    if header is HeaderFormat.TEXT and template.header_parameter:
        label = template.header_parameter
        inputs.append(
            TemplateInput(
                key="header",
                kind=InputKind.HEADER_TEXT,
                label=label,
                example=template.header_example,
                max_length=HEADER_TEXT_MAX,
                name=label if template.named else "",
            )
        )
    elif header in MEDIA_HEADERS:
        assert header is not None
        inputs.append(
            TemplateInput(
                key="header",
                kind=InputKind.HEADER_MEDIA,
                label=header.value.lower(),
                example=template.header_example,
                max_length=LINK_MAX,
                media=header.value.lower(),
            )
        )
    examples = template.body_examples
    for n in range(1, template.parameter_count + 1):
        label = template.parameter_label(n)
        inputs.append(
            TemplateInput(
                key=f"body.{label}",
                kind=InputKind.BODY,
                label=label,
                example=examples[n - 1] if n <= len(examples) else "",
                max_length=BODY_MAX,
                index=n,
                name=label if template.named else "",
            )
        )
    for button in template.buttons:
        if button.kind == "URL" and button.dynamic:
            inputs.append(
                TemplateInput(
                    key=f"button.{button.index}",
                    kind=InputKind.URL_SUFFIX,
                    label=button.text,
                    example=button.suffix_example,
                    max_length=max(1, URL_MAX - len(button.url_prefix)),
                    index=button.index,
                )
            )
        elif button.kind == "QUICK_REPLY":
            inputs.append(
                TemplateInput(
                    key=f"button.{button.index}",
                    kind=InputKind.QUICK_REPLY,
                    label=button.text,
                    example=button.text,
                    required=False,
                    max_length=PAYLOAD_MAX,
                    index=button.index,
                    default=button.text[:PAYLOAD_MAX],
                )
            )
        elif button.kind == "COPY_CODE":
            inputs.append(
                TemplateInput(
                    key=f"button.{button.index}",
                    kind=InputKind.COPY_CODE,
                    label=button.text,
                    example=button.example,
                    max_length=COPY_CODE_MAX,
                    index=button.index,
                )
            )
    return tuple(inputs)


# --- checking the agent's values --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValueProblem:
    """What is wrong with the input `key`, as a catalogue key and its parameters."""

    key: str
    error: str
    params: Mapping[str, str | int] = field(default_factory=dict)


def _text_problem(spec: TemplateInput, value: str) -> ValueProblem | None:
    # WhatsApp refuses text parameters with new lines, tabs or more than four
    # consecutive spaces (Cloud API error 132018).
    if any(c in value for c in "\n\r\t") or "    " in value:
        return ValueProblem(spec.key, BAD_FORMAT, {"label": spec.label})
    return None


def _link_problem(spec: TemplateInput, value: str) -> ValueProblem | None:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
        return ValueProblem(spec.key, NOT_HTTPS, {"label": spec.label})
    return None


def check(template: Template, values: Mapping[str, str]) -> list[ValueProblem]:
    """Everything wrong with `values` for `template` (empty: it may be sent).

    `values` maps `TemplateInput.key` to what the agent typed; a value for an
    input the template does not take is a problem (a wrong count, never sent).
    """
    inputs = needs(template)
    known = {spec.key for spec in inputs}
    problems = [
        ValueProblem(key, UNEXPECTED, {"label": key})
        for key, value in values.items()
        if key not in known and value.strip()
    ]
    for spec in inputs:
        value = values.get(spec.key, "").strip()
        if not value:
            if spec.required:
                problems.append(ValueProblem(spec.key, MISSING, {"label": spec.label}))
            continue
        if len(value) > spec.max_length:
            problems.append(
                ValueProblem(spec.key, TOO_LONG, {"label": spec.label, "limit": spec.max_length})
            )
            continue
        if spec.kind is InputKind.HEADER_MEDIA:
            problem = _link_problem(spec, value)
        elif spec.kind in (InputKind.HEADER_TEXT, InputKind.BODY):
            problem = _text_problem(spec, value)
        elif spec.kind in (InputKind.URL_SUFFIX, InputKind.COPY_CODE):
            has_space = any(c.isspace() for c in value)
            problem = (
                ValueProblem(spec.key, NO_SPACES, {"label": spec.label}) if has_space else None
            )
        else:
            problem = None
        if problem is not None:
            problems.append(problem)
    problems.extend(_filled_lengths(template, inputs, values, {p.key for p in problems}))
    return problems


def _filled_lengths(
    template: Template,
    inputs: Sequence[TemplateInput],
    values: Mapping[str, str],
    wrong: set[str],
) -> list[ValueProblem]:
    """The header and the body, filled in, within Meta's lengths (on their longest value)."""
    problems: list[ValueProblem] = []
    shown = preview(template, values)
    for kind, text, limit in (
        (InputKind.HEADER_TEXT, shown.header, HEADER_TEXT_MAX),
        (InputKind.BODY, shown.body, BODY_MAX),
    ):
        own = [s for s in inputs if s.kind is kind and s.key not in wrong]
        if own and len(text) > limit:
            longest = max(own, key=lambda s: len(values.get(s.key, "")))
            problems.append(
                ValueProblem(longest.key, TOO_LONG, {"label": longest.label, "limit": limit})
            )
    return problems


# --- the send-time components -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilledParameter:
    """One checked value, self-describing: `send_components` needs nothing else."""

    kind: InputKind
    value: str
    name: str = ""  # a NAMED template's parameter name (header text, body)
    index: int = 0  # buttons: the button's index
    media: str = ""  # HEADER_MEDIA: image, video or document
    by_id: bool = False  # HEADER_MEDIA: `value` is an uploaded media id, not a link


def fill(
    template: Template, values: Mapping[str, str], *, media_id: str | None = None
) -> tuple[FilledParameter, ...]:
    """The checked `values` (see `check`) as send parameters, in `needs` order.

    `media_id`: a media header already uploaded to WhatsApp (sent by id, not link).
    A QUICK_REPLY payload left empty is its default.
    """
    filled: list[FilledParameter] = []
    for spec in needs(template):
        value = values.get(spec.key, "").strip() or spec.default
        if spec.kind is InputKind.HEADER_MEDIA:
            if media_id is not None:
                value = media_id
            filled.append(
                FilledParameter(spec.kind, value, media=spec.media, by_id=media_id is not None)
            )
        else:
            filled.append(FilledParameter(spec.kind, value, name=spec.name, index=spec.index))
    return tuple(filled)


def _text_parameter(param: FilledParameter) -> dict[str, str]:
    if param.name:
        return {"type": "text", "parameter_name": param.name, "text": param.value}
    return {"type": "text", "text": param.value}


def send_components(filled: Sequence[FilledParameter]) -> list[dict[str, Any]]:
    """The `template.components` of the send request, in Meta's documented shapes:

    * header: `{"type": "header", "parameters": [{"type": "image", "image": {"link": …}}]}`
      (`{"id": …}` for uploaded media; `text` for a TEXT header's parameter);
    * body: `{"type": "body", "parameters": [{"type": "text", "text": …}]}`, each
      with `parameter_name` in a NAMED template;
    * buttons, one component each, `index` a string:
      `{"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text",
      "text": suffix}]}`, `quick_reply` with `{"type": "payload", "payload": …}`,
      `copy_code` with `{"type": "coupon_code", "coupon_code": …}`.

    https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
    """
    header: list[dict[str, Any]] = []
    body: list[dict[str, Any]] = []
    buttons: list[dict[str, Any]] = []
    for param in filled:
        if param.kind is InputKind.HEADER_MEDIA:
            source = {"id": param.value} if param.by_id else {"link": param.value}
            header.append({"type": param.media, param.media: source})
        elif param.kind is InputKind.HEADER_TEXT:
            header.append(_text_parameter(param))
        elif param.kind is InputKind.BODY:
            body.append(_text_parameter(param))
        else:
            sub_type, parameter = {
                InputKind.URL_SUFFIX: ("url", {"type": "text", "text": param.value}),
                InputKind.QUICK_REPLY: ("quick_reply", {"type": "payload", "payload": param.value}),
                InputKind.COPY_CODE: (
                    "copy_code",
                    {"type": "coupon_code", "coupon_code": param.value},
                ),
            }[param.kind]
            buttons.append(
                {
                    "type": "button",
                    "sub_type": sub_type,
                    "index": str(param.index),
                    "parameters": [parameter],
                }
            )
    components: list[dict[str, Any]] = []
    if header:
        components.append({"type": "header", "parameters": header})
    if body:
        components.append({"type": "body", "parameters": body})
    components.extend(sorted(buttons, key=lambda b: int(b["index"])))
    return components


def fill_rows(filled: Sequence[FilledParameter]) -> list[list[str | int]]:
    """`filled` as JSON-ready rows (stored with the message until it is sent)."""
    return [[p.kind.value, p.value, p.name, p.index, p.media, int(p.by_id)] for p in filled]


def fill_from_rows(rows: Sequence[Sequence[Any]]) -> tuple[FilledParameter, ...]:
    """`fill_rows`' rows back."""
    return tuple(
        FilledParameter(InputKind(kind), str(value), str(name), int(index), str(media), bool(by_id))
        for kind, value, name, index, media, by_id in rows
    )


def encode_fill(filled: Sequence[FilledParameter]) -> str:
    """`filled` as compact JSON."""
    return json.dumps(fill_rows(filled), ensure_ascii=False, separators=(",", ":"))


def decode_fill(raw: str | None) -> tuple[FilledParameter, ...]:
    """`encode_fill`'s JSON back (empty for None or "")."""
    return fill_from_rows(json.loads(raw)) if raw else ()


# --- the preview ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreviewButton:
    kind: str  # URL, QUICK_REPLY, COPY_CODE, PHONE_NUMBER, …
    text: str  # the label the customer taps
    target: str = ""  # URL: the URL with its suffix; PHONE_NUMBER: the number; COPY_CODE: the code


@dataclass(frozen=True, slots=True)
class TemplatePreview:
    """The message as the customer will see it; a value not given yet shows its
    placeholder (`{{1}}`, `{{first_name}}`)."""

    header: str = ""  # a TEXT header, filled in
    media: str = ""  # image, video or document when the header is media
    media_link: str = ""
    body: str = ""
    footer: str = ""
    buttons: tuple[PreviewButton, ...] = ()


def preview(template: Template, values: Mapping[str, str]) -> TemplatePreview:
    """`template` with `values` (by `TemplateInput.key`) filled in."""

    def given(key: str, placeholder: str) -> str:
        return values.get(key, "").strip() or placeholder

    header = template.header_text if template.header_format is HeaderFormat.TEXT else ""
    if template.header_parameter:
        label = template.header_parameter
        header = header.replace(f"{{{{{label}}}}}", given("header", f"{{{{{label}}}}}"))
    media = ""
    if template.header_format in MEDIA_HEADERS:
        assert template.header_format is not None
        media = template.header_format.value.lower()
    body_values = [
        given(f"body.{template.parameter_label(n)}", template.placeholder(n))
        for n in range(1, template.parameter_count + 1)
    ]
    body = _substitute(template.body, template.named, template.parameter_names, body_values)
    buttons: list[PreviewButton] = []
    for button in template.buttons:
        target = ""
        if button.kind == "URL":
            target = button.url_prefix + given(f"button.{button.index}", "{{1}}")
            target = target if button.dynamic else button.url
        elif button.kind == "PHONE_NUMBER":
            target = button.phone_number
        elif button.kind == "COPY_CODE":
            target = given(f"button.{button.index}", button.example)
        buttons.append(PreviewButton(button.kind, button.text, target))
    return TemplatePreview(
        header=header,
        media=media,
        media_link=values.get("header", "").strip() if media else "",
        body=body,
        footer=template.footer,
        buttons=tuple(buttons),
    )


def default_language(languages: Sequence[str], preferred: str) -> str | None:
    """Which of a template's `languages` ("en_US", "ar", …) to start with for an agent
    who reads `preferred` ("en", "ar"): the same code, else the same base language,
    else the first (None when there is none)."""
    if not languages:
        return None
    base = preferred.split("_")[0].lower()
    for language in languages:
        if language.lower() == preferred.lower():
            return language
    for language in languages:
        if language.split("_")[0].lower() == base:
            return language
    return languages[0]
