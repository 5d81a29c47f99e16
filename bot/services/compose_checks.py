"""Checking a composition before it is queued, and the follow-up request it makes.

Empty text, text over the channel's limit (`bot.domain.limits`), a template
value left out or malformed, a takeover not confirmed: each a `FieldProblem`
naming the input it is about. Slack-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from enum import StrEnum

from bot.domain.channels import Channel
from bot.domain.limits import Unit, text_limit
from bot.domain.media import MediaRefusal
from bot.domain.media import check as media_check
from bot.domain.messages import Content, TemplateUse
from bot.domain.templates import (
    BAD_FORMAT,
    MISSING,
    FilledParameter,
    InputKind,
    TemplateInput,
    ValueProblem,
    check,
    fill,
    needs,
)
from bot.domain.windows import Form
from bot.services.compose_plan import AttachedFile, ComposePlan, Draft, padded_params
from bot.services.followup import FollowupRequest

# Catalogue keys of the composer's problems (the policy's reasons come from
# `bot.domain.windows`).
EMPTY_TEXT = "compose.error.empty"
TOO_LONG = "compose.error.too_long"
TOO_LONG_BYTES = "compose.error.too_long_bytes"
PICK_TEMPLATE = "compose.error.pick_template"
PICK_TAG = "compose.error.pick_tag"
MISSING_PARAM = "compose.error.missing_param"
PARAM_FORMAT = "compose.error.param_format"
CONFIRM_TAKEOVER = "compose.error.takeover"
CHANNEL_GONE = "compose.error.channel_gone"
FILES_NOT_HERE = "compose.error.files_not_here"
HEADER_ONE_FILE = "compose.error.header_one_file"
HEADER_FILE_KIND = "compose.error.header_file_kind"
#: A media header sent as the attached file: the connector uploads it and sends its id.
HEADER_UPLOAD = "upload"


class Field(StrEnum):
    """The part of a composition a problem is about."""

    FORM = "form"  # what was chosen may not be sent (now) at all
    TEXT = "text"
    TEMPLATE = "template"
    PARAM = "param"
    TAG = "tag"
    TAKEOVER = "takeover"
    FILES = "files"


@dataclass(frozen=True)
class FieldProblem:
    """Why a composition cannot go, as a catalogue key and its parameters."""

    field: Field
    key: str
    params: Mapping[str, str | int] = dataclass_field(default_factory=dict)
    index: int = 0  # the template input (1-based, in `needs` order) for Field.PARAM


def text_problem(channel: Channel, text: str) -> FieldProblem | None:
    """Empty, or over the channel's limit (`bot.domain.limits`); None when it fits."""
    if not text.strip():
        return FieldProblem(Field.TEXT, EMPTY_TEXT)
    limit = text_limit(channel)
    size = limit.measure(text.strip())
    if size > limit.amount:
        key = TOO_LONG_BYTES if limit.unit is Unit.BYTES else TOO_LONG
        return FieldProblem(
            Field.TEXT, key, {"channel": channel.value, "size": size, "limit": limit.amount}
        )
    return None


def file_problems(channel: Channel, files: Sequence[AttachedFile]) -> list[FieldProblem]:
    """Files the channel cannot take (its type and size limits, `bot.domain.media`)."""
    problems = []
    for file in files:
        decision = media_check(channel, file.mime_type, file.size)
        if isinstance(decision, MediaRefusal):
            params = {**decision.params, "name": file.name}
            problems.append(FieldProblem(Field.FILES, decision.key, params))
    return problems


def validate(plan: ComposePlan, submitted: Draft, *, waiting: bool = False) -> list[FieldProblem]:
    """Everything wrong with `submitted` (empty: it may be sent as it is).

    A message for later (`send_at`) or for the customer's next message
    (`waiting`: the modal offered only that) is checked for its content here;
    whether the window takes it then is the scheduling's to say."""
    channel = submitted.channel
    option = next((o for o in plan.options if o.channel == channel), None)
    if channel is None or option is None:
        return [FieldProblem(Field.FORM, CHANNEL_GONE)]
    if plan.may_wait and waiting:
        problem = text_problem(channel, submitted.text)
        return [problem] if problem is not None else []
    form = submitted.form
    if submitted.send_at is not None and form is not None:
        option = replace(option, forms=tuple(dict.fromkeys((*option.forms, form))))
    if form is None or form not in option.forms:
        reasons = option.blocked or (
            option.decision.check_reason(form or Form.TEXT, submitted.tag),
        )
        return [FieldProblem(Field.FORM, r.key, dict(r.params)) for r in reasons]
    problems: list[FieldProblem] = []
    if plan.takeover_from and not submitted.takeover:
        problems.append(FieldProblem(Field.TAKEOVER, CONFIRM_TAKEOVER))
    if form in (Form.TEXT, Form.TAGGED):
        problem = text_problem(channel, submitted.text)
        # A file may go without a caption.
        if problem is not None and not (submitted.files and problem.key == EMPTY_TEXT):
            problems.append(problem)
        problems.extend(file_problems(channel, submitted.files))
    elif submitted.files and not _header_file(plan, submitted):
        problems.append(FieldProblem(Field.FILES, FILES_NOT_HERE))
    if form is Form.TAGGED and submitted.tag not in option.decision.allowed_tags:
        problems.append(FieldProblem(Field.TAG, PICK_TAG))
    if form is Form.TEMPLATE:
        template = plan.template_named(submitted.template)
        if template is None:
            problems.append(FieldProblem(Field.TEMPLATE, PICK_TEMPLATE))
        else:
            inputs = needs(template)
            values = _values(inputs, submitted.params)
            position = {spec.key: n for n, spec in enumerate(inputs, start=1)}
            header_file = _header_file(plan, submitted)
            for found in check(template, values):
                n = position[found.key]
                if header_file is not None and inputs[n - 1].kind is InputKind.HEADER_MEDIA:
                    continue  # the header is the attached file
                problems.append(_input_problem(inputs[n - 1], n, found))
            if header_file is not None:
                problems.extend(_header_file_problems(header_file, submitted.files))
    return problems


def _values(inputs: Sequence[TemplateInput], params: Sequence[str]) -> dict[str, str]:
    return {
        spec.key: value
        for spec, value in zip(inputs, padded_params(params, len(inputs)), strict=True)
    }


def _input_problem(spec: TemplateInput, n: int, found: ValueProblem) -> FieldProblem:
    """A template value's problem on its input `n`; a body parameter's read as before
    ("Fill in parameter 2."), the others name their input (`compose.input.*`)."""
    if spec.kind is InputKind.BODY and found.error in (MISSING, BAD_FORMAT):
        key = MISSING_PARAM if found.error == MISSING else PARAM_FORMAT
        return FieldProblem(Field.PARAM, key, {"n": spec.label}, index=n)
    params: dict[str, str | int] = {**found.params, "input": spec.kind.value, "media": spec.media}
    return FieldProblem(Field.PARAM, found.error, params, index=n)


def _header_file(plan: ComposePlan, submitted: Draft) -> TemplateInput | None:
    """The chosen template's media header, when a file was attached for it."""
    template = plan.template_named(submitted.template)
    if template is None or not submitted.files or submitted.form is not Form.TEMPLATE:
        return None
    return next((s for s in needs(template) if s.kind is InputKind.HEADER_MEDIA), None)


def _header_file_problems(spec: TemplateInput, files: Sequence[AttachedFile]) -> list[FieldProblem]:
    """One file, of the header's kind, within WhatsApp's limits for it."""
    if len(files) != 1:
        return [FieldProblem(Field.FILES, HEADER_ONE_FILE)]
    file = files[0]
    decision = media_check(Channel.WHATSAPP, file.mime_type, file.size)
    if isinstance(decision, MediaRefusal):
        return [FieldProblem(Field.FILES, decision.key, {**decision.params, "name": file.name})]
    if decision.kind.value != spec.media:
        return [FieldProblem(Field.FILES, HEADER_FILE_KIND, {"media": spec.media})]
    return []


def template_components(plan: ComposePlan, submitted: Draft) -> tuple[FilledParameter, ...]:
    """The chosen template's checked values as send parameters (`validate` first);
    a media header given as a file is uploaded by the connector, which sends it
    by id in place of the link."""
    template = plan.template_named(submitted.template)
    if template is None:
        return ()
    values = _values(needs(template), submitted.params)
    if _header_file(plan, submitted) is not None:
        return fill(template, values, media_id=HEADER_UPLOAD)
    return fill(template, values)


def request_for(plan: ComposePlan, submitted: Draft, idempotency_key: str) -> FollowupRequest:
    """The follow-up a valid composition asks for (see `validate`); a message
    waiting for the customer's next message is text."""
    if plan.may_wait and submitted.form is None:
        submitted = replace(submitted, form=Form.TEXT)
    if submitted.channel is None or submitted.form is None:
        raise ValueError("a composition without a channel or form cannot be sent")
    template = plan.template_named(submitted.template)
    if submitted.form is Form.TEMPLATE:
        if template is None:
            raise ValueError("a template follow-up needs an approved template")
        components = template_components(plan, submitted)
        content = Content(
            template=TemplateUse(
                name=template.name,
                language=template.language,
                parameters=tuple(p.value for p in components if p.kind is InputKind.BODY),
                parameter_names=template.parameter_names,
                components=components,
            ),
            attachments=submitted.attachments,
        )
    else:
        content = Content(
            text=submitted.text.strip(),
            tag=submitted.tag if submitted.form is Form.TAGGED else None,
            attachments=submitted.attachments,
        )
    return FollowupRequest(
        contact_id=plan.contact.id,
        channel=submitted.channel,
        sender=plan.agent,
        idempotency_key=idempotency_key,
        form=submitted.form,
        content=content,
        confirm_takeover=submitted.takeover,
    )
