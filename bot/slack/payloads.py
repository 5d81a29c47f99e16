"""slack-sdk's Block Kit models as JSON, the same as their `to_dict()`, ten times faster.

`JsonObject.to_dict()` recomputes each object's attribute set, sorts it, walks
every instance attribute looking for validators and converts nested objects
twice; on a page of search results that is most of the time a request takes.
Here each class's attribute names and validators are looked up once. The
output is `to_dict()`'s (tests compare the two on every kind of block the app
builds), validators still run (a text over Slack's limit still raises
`SlackObjectFormationError`), and a class with its own `to_dict` (confirmation
dialogs, views' state) is converted by it; options, the most numerous of
those, as their `to_dict()` gives them in a block (`_option_json`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from slack_sdk.models.basic_objects import (
    EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST,
    JsonObject,
    _class_validator_names,
)
from slack_sdk.models.blocks import Block, Option, PlainTextObject, TextObject

#: How each class converts: (attribute names in to_dict's order, validator names);
#: OWN_TO_DICT for a model class with its own `to_dict`; NOT_A_MODEL for other types.
_Layout = tuple[tuple[str, ...], tuple[str, ...]]
OWN_TO_DICT = "own to_dict"
NOT_A_MODEL = "not a model"
_LAYOUT: dict[type, _Layout | str] = {}
_SCALARS = frozenset({str, int, float, bool, type(None)})
_EMPTY_ALLOWED = frozenset(
    (rule["type"], rule["property"]) for rule in EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST
)


def compact_json(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`, through orjson
    (a view's `private_metadata`, a button's value): the stdlib makes an encoder
    per call with those arguments, about 13 µs, where orjson takes under one.
    What orjson refuses (a lone surrogate) goes through the stdlib as before."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class BuiltBlock(Block):
    """A block built once through the models and kept as its JSON.

    For a block that is the same in every answer of a kind (the compose
    modal's time, reminder and file inputs): built, validated and converted
    once, then shared, so each answer pays for neither its models nor their
    conversion. Nothing changes a block once built; its JSON is never
    modified either (it is only serialized).
    """

    def __init__(self, model: Block) -> None:
        super().__init__(type=model.type, block_id=model.block_id)
        self.json: dict[str, Any] = block_kit_json(model)

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> BuiltBlock:
        """A block from JSON already validated (a `BlockTemplate` filled)."""
        block = cls.__new__(cls)
        Block.__init__(block, type=data["type"], block_id=data.get("block_id"))
        block.json = data
        return block

    def to_dict(self, *args: Any) -> dict[str, Any]:
        return self.json


@dataclass(frozen=True)
class Slot:
    """A value a `BlockTemplate` leaves open, at most `longest` characters."""

    name: str
    longest: int
    #: What the template is built with: `longest` characters from Unicode's
    #: private use area around the name, so no text of ours holds it by chance,
    #: and slack-sdk's length checks see the longest value the slot may take.
    placeholder: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        mark = f"\ue000{self.name}\ue001"
        if len(mark) > self.longest:
            raise ValueError(f"slot {self.name!r}: its placeholder is longer than {self.longest}")
        object.__setattr__(self, "placeholder", mark.ljust(self.longest, "\ue000"))


class BlockTemplate:
    """A block built once through the models, with `Slot`s for what each answer
    fills in (a result card's contact, its summary, its window lines).

    Building and converting slack-sdk's models runs a good deal of its code per
    object: with the result cards and the compose modal taken as made (a
    throwaway experiment, `bench/ack.py`), `serve`'s CPU per request fell by a
    third in the closed loop and by about a tenth at 200 requests/s.

    A template is built and validated once with each slot at its longest
    value; `filled` copies only the parts of its JSON that hold a slot and
    shares the rest, which is never modified. slack-sdk's checks that depend
    on a text are on its length, so a block filled with values no longer than
    their slots' is as valid as the template was; a longer or empty value (the
    models would drop an empty text) is refused. A result card: 53 → 29 µs
    built and converted (`timeit`).
    """

    def __init__(self, model: Block, slots: Iterable[Slot]) -> None:
        self.json: dict[str, Any] = block_kit_json(model)
        self.slots = frozenset(slots)
        found: set[str] = set()
        placeholders = tuple(slot.placeholder for slot in self.slots)
        self._patch = _patch(self.json, placeholders, found)
        lost = sorted(slot.name for slot in self.slots if slot.placeholder not in found)
        if lost:
            raise ValueError(f"slots not in the block (dropped or cut?): {', '.join(lost)}")

    def filled(self, values: Mapping[Slot, str]) -> BuiltBlock:
        """The block with each slot's value (every slot's, none other)."""
        if values.keys() != self.slots:
            raise ValueError("a template is filled with a value for each of its slots")
        by_placeholder: dict[str, str] = {}
        for slot, value in values.items():
            if not value or len(value) > slot.longest:
                raise ValueError(
                    f"slot {slot.name!r}: {len(value)} characters (1 to {slot.longest})"
                )
            by_placeholder[slot.placeholder] = value
        if self._patch is None:  # no slots
            return BuiltBlock.of_json(self.json)
        return BuiltBlock.of_json(_fill(self.json, self._patch, by_placeholder))


#: Where a template's slots are: for a dict or a list, its members that hold
#: one (by key or index); for a text, the text itself.
_Patch = dict[Any, Any] | str


def _patch(node: Any, placeholders: tuple[str, ...], found: set[str]) -> _Patch | None:
    if type(node) is str:
        held = [p for p in placeholders if p in node]
        found.update(held)
        return node if held else None
    if isinstance(node, dict):
        members: Iterable[tuple[Any, Any]] = node.items()
    elif isinstance(node, list):
        members = enumerate(node)
    else:
        return None
    patch = {}
    for key, member in members:
        inner = _patch(member, placeholders, found)
        if inner is not None:
            patch[key] = inner
    return patch or None


def _fill(node: Any, patch: _Patch, values: dict[str, str]) -> Any:
    if isinstance(patch, str):
        whole = values.get(patch)
        if whole is not None:
            return whole
        for placeholder, value in values.items():
            patch = patch.replace(placeholder, value)
        return patch
    copy = node.copy()
    for key, inner in patch.items():
        copy[key] = _fill(node[key], inner, values)
    return copy


def block_kit_json(value: Any) -> Any:
    """`value` (a model, a list of them, or plain JSON) as JSON-ready data."""
    cls = type(value)
    if cls in _SCALARS:
        return value
    if cls is BuiltBlock:
        return value.json
    if cls is Option:
        return _option_json(value)
    layout = _LAYOUT.get(cls) or _learn(cls, value)
    if layout is NOT_A_MODEL:
        if isinstance(value, (list, tuple)):
            return [block_kit_json(v) for v in value]
        to_dict = getattr(value, "to_dict", None)
        if callable(to_dict):
            return {k: block_kit_json(v) for k, v in to_dict().items()}
        return value
    if isinstance(layout, str):  # OWN_TO_DICT
        return {k: block_kit_json(v) for k, v in value.to_dict().items()}
    names, validators = layout
    for name in validators:
        getattr(value, name)()
    out: dict[str, Any] = {}
    for name in names:
        item = getattr(value, name, None)
        if item is None:
            continue
        kind = type(item)
        if kind is str:
            if item:
                out[name] = item
            continue
        if kind in _SCALARS:
            out[name] = item
            continue
        if (
            hasattr(item, "__len__")
            and len(item) == 0
            and (getattr(value, "type", None), name) not in _EMPTY_ALLOWED
        ):
            continue
        out[name] = block_kit_json(item)
    return out


#: Option's validators, run as its `validate_json()` runs them (sorted by name).
_OPTION_VALIDATORS = tuple(sorted(_class_validator_names(Option)))


def _option_json(option: Any) -> dict[str, Any]:
    """`Option.to_dict()` in a block (the only shape Block Kit takes): its own
    `to_dict` looks for its validators among every attribute of the object on
    each call, two thirds of the compose modal's conversion (about 150 of 230 µs
    for 15 options, measured on this machine)."""
    for name in _OPTION_VALIDATORS:
        getattr(option, name)()
    text: TextObject = option._text or PlainTextObject.from_str(option.label)
    out: dict[str, Any] = {"text": block_kit_json(text), "value": option.value}
    if option._block_description:
        out["description"] = block_kit_json(option._block_description)
    if option.url:
        out["url"] = option.url
    return out


def _learn(cls: type, value: Any) -> _Layout | str:
    layout: _Layout | str
    if not isinstance(value, JsonObject):
        layout = NOT_A_MODEL
    elif (
        cls.to_dict is JsonObject.to_dict  # type: ignore[attr-defined]
        and cls.get_non_null_attributes is JsonObject.get_non_null_attributes  # type: ignore[attr-defined]
        and cls.get_object_attribute is JsonObject.get_object_attribute  # type: ignore[attr-defined]
        and cls.validate_json is JsonObject.validate_json  # type: ignore[attr-defined]
    ):
        # `attributes` depends on the class alone (each is a union up the hierarchy).
        layout = (tuple(sorted(value.attributes)), tuple(sorted(_class_validator_names(cls))))
    else:
        layout = OWN_TO_DICT
    _LAYOUT[cls] = layout
    return layout
