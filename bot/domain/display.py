"""How a contact is named to a person: the one rule every Slack surface uses.

Pure, no I/O. A contact with a name is shown by it. A nameless contact (a
WeChat follower, an SMS number, a Telegram chat without a name) is shown by
what identifies it to a person, never by our internal id:

1. the phone number, formatted for reading (`+971 50 123 4567`), from the
   contact's phone or its WhatsApp / SMS identity;
2. the e-mail address, from the contact or its e-mail identity;
3. a channel handle: `@username` where the channel gave one (Telegram,
   Instagram), else the channel and its identity (`WeChat oUpF8uMu…`),
   the channel the customer wrote on last first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

import phonenumbers

from bot.domain.channels import CHANNEL_LABELS, Channel

__all__ = ["display_name", "format_phone", "identity_label"]

#: Channels whose identity is a phone number (WhatsApp's `wa_id` is E.164
#: without the `+`).
_PHONE_IDENTITIES = (Channel.WHATSAPP, Channel.SMS)
#: Channels whose handles are shown as `@name` (the username the customer chose).
_AT_HANDLES = frozenset({Channel.TELEGRAM, Channel.INSTAGRAM})
#: What is shown when a contact has nothing at all to go by (it cannot have
#: been created so, but a surface must never fall back to the internal id).
UNKNOWN = "—"


@lru_cache(maxsize=4096)
def format_phone(value: str) -> str:
    """A phone number in the international format (`+971 50 123 4567`);
    the value as given when it is not a number phonenumbers can read."""
    raw = value.strip()
    candidate = raw if raw.startswith("+") else "+" + raw if raw.isdigit() else raw
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return raw
    if not phonenumbers.is_possible_number(number):
        return raw
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def identity_label(channel: Channel, identity: str, handle: str | None = None) -> str:
    """One channel identity as a person reads it: a formatted number, an address,
    `@username`, or the channel's name and the identity."""
    if handle:
        handle = handle.strip().lstrip("@")
        if handle:
            return f"@{handle}" if channel in _AT_HANDLES else f"{CHANNEL_LABELS[channel]} {handle}"
    if channel in _PHONE_IDENTITIES:
        return format_phone(identity)
    if channel is Channel.EMAIL:
        return identity
    return f"{CHANNEL_LABELS[channel]} {identity}"


def display_name(
    *,
    first_name: str = "",
    last_name: str = "",
    phone: str | None = None,
    email: str | None = None,
    identities: Mapping[Channel, str] | None = None,
    handles: Mapping[Channel, str] | None = None,
    last_inbound_at: Mapping[Channel, datetime] | None = None,
) -> str:
    """The name a contact is shown by (see the module docstring for the order)."""
    name = " ".join(part for part in (first_name.strip(), last_name.strip()) if part)
    if name:
        return name
    identities = identities or {}
    if phone:
        return format_phone(phone)
    for channel in _PHONE_IDENTITIES:
        if identities.get(channel):
            return format_phone(identities[channel])
    if email:
        return email
    if identities.get(Channel.EMAIL):
        return identities[Channel.EMAIL]
    handles = handles or {}
    inbound = last_inbound_at or {}
    channels = [c for c in Channel if identities.get(c) or handles.get(c)]
    if not channels:
        return UNKNOWN
    # The channel the customer wrote on last is the one the agent knows them
    # by; among those never written on, a handle beats a bare id.
    channels.sort(
        key=lambda c: (
            c not in inbound,
            -inbound[c].timestamp() if c in inbound else 0.0,
            not handles.get(c),
        )
    )
    first = channels[0]
    return identity_label(first, identities.get(first, ""), handles.get(first))
