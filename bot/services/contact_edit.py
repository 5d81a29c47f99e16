"""Editing a contact's name, phone and e-mail, and merging two contacts (SPEC
"Finding a contact": WeChat gives no nickname, so its contacts start nameless).

A phone or e-mail that belongs to another contact is not taken from it: the
agent is asked whether the two are one customer, and on confirmation the
other contact is merged into this one (`ContactStore.merge`: every identity,
message and thread link kept), then the edit is saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.channels import Channel
from bot.domain.clock import Clock
from bot.domain.contacts import normalise_email, normalise_phone
from bot.domain.local_time import zone_named, zone_spelled
from bot.domain.models import Contact
from bot.services.inbound import ThreadSink
from bot.store.contacts import (
    ContactNotFound,
    ContactStore,
    IdentityTaken,
    MergeConflict,
    identity_clash,
)

#: Longest first or last name kept (Slack's input is limited likewise).
NAME_MAX = 100


class EditOutcome(StrEnum):
    SAVED = "saved"  # the contact has the new details
    UNCHANGED = "unchanged"  # nothing to change
    INVALID = "invalid"  # `errors` says which fields, in catalogue keys
    NEEDS_MERGE = "needs_merge"  # `other` holds the phone or e-mail: merge them?
    CONFLICT = "conflict"  # `other` holds it, but both have an identity on `channels`
    GONE = "gone"  # the contact no longer exists


@dataclass(frozen=True)
class ContactEdit:
    """What the agent typed, as typed (validated by `ContactEditor.check`)."""

    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email: str = ""
    time_zone: str = ""


@dataclass(frozen=True)
class CheckedEdit:
    first_name: str
    last_name: str
    phone: str | None
    email: str | None
    time_zone: str | None = None


@dataclass(frozen=True)
class EditResult:
    outcome: EditOutcome
    contact: Contact | None = None
    other: Contact | None = None  # NEEDS_MERGE / CONFLICT: the contact holding the value
    errors: dict[str, str] = field(default_factory=dict)  # field -> catalogue key
    channels: tuple[Channel, ...] = ()  # CONFLICT: the channels both have


class ContactEditor:
    def __init__(
        self,
        contacts: ContactStore,
        default_region: str | None,
        clock: Clock,
        *,
        threads: ThreadSink | None = None,
    ) -> None:
        self.contacts = contacts
        self.default_region = default_region
        self.clock = clock
        self.threads = threads

    async def show_saved(self, contact_id: str) -> None:
        """The thread root names the contact: show its new details there."""
        if self.threads is not None:
            await self.threads.root_changed(contact_id)

    def check(self, edit: ContactEdit) -> CheckedEdit | dict[str, str]:
        """The normalised details, or field -> catalogue key of what is wrong."""
        errors: dict[str, str] = {}
        first, last = " ".join(edit.first_name.split()), " ".join(edit.last_name.split())
        if len(first) > NAME_MAX:
            errors["first_name"] = "edit.error.name_too_long"
        if len(last) > NAME_MAX:
            errors["last_name"] = "edit.error.name_too_long"
        phone = normalise_phone(edit.phone, self.default_region) if edit.phone.strip() else None
        if edit.phone.strip() and phone is None:
            errors["phone"] = "edit.error.phone"
        email = normalise_email(edit.email) if edit.email.strip() else None
        if edit.email.strip() and email is None:
            errors["email"] = "edit.error.email"
        zone = zone_named(zone_spelled(edit.time_zone)) if edit.time_zone.strip() else None
        if edit.time_zone.strip() and zone is None:
            errors["time_zone"] = "edit.error.time_zone"
        if errors:
            return errors
        return CheckedEdit(first, last, phone, email, zone.key if zone else None)

    async def edit(self, contact_id: str, edit: ContactEdit) -> EditResult:
        """Save the details; or say what is wrong, or whom the phone/e-mail belongs to."""
        checked = self.check(edit)
        if isinstance(checked, dict):
            return EditResult(EditOutcome.INVALID, errors=checked)
        contact = await self.contacts.get(contact_id)
        if contact is None:
            return EditResult(EditOutcome.GONE)
        other = await self._holder(contact, checked)
        if other is not None:
            clash = identity_clash(contact, other)
            outcome = EditOutcome.CONFLICT if clash else EditOutcome.NEEDS_MERGE
            return EditResult(outcome, contact=contact, other=other, channels=clash)
        return await self._save(contact, checked)

    async def merge_and_edit(self, contact_id: str, other_id: str, edit: ContactEdit) -> EditResult:
        """The agent confirmed: merge `other_id` into `contact_id`, then save the edit."""
        checked = self.check(edit)
        if isinstance(checked, dict):
            return EditResult(EditOutcome.INVALID, errors=checked)
        try:
            survivor = await self.contacts.merge(contact_id, other_id, self.clock())
        except ContactNotFound:
            return EditResult(EditOutcome.GONE)
        except MergeConflict as conflict:
            other = await self.contacts.get(other_id)
            contact = await self.contacts.get(contact_id)
            return EditResult(
                EditOutcome.CONFLICT, contact=contact, other=other, channels=conflict.channels
            )
        return await self._save(survivor, checked)

    async def _holder(self, contact: Contact, checked: CheckedEdit) -> Contact | None:
        """Another contact that has the new phone or e-mail (as its value or identity)."""
        found: list[Contact] = []
        if checked.phone and checked.phone != contact.phone:
            found += await self.contacts.find_by_phone(checked.phone)
        if checked.email and checked.email != contact.email:
            found += await self.contacts.find_by_email(checked.email)
            holder = await self.contacts.find_by_identity(Channel.EMAIL, checked.email)
            found += [holder] if holder is not None else []
        return next((c for c in found if c.id != contact.id), None)

    async def _save(self, contact: Contact, checked: CheckedEdit) -> EditResult:
        clear = [
            name
            for name, value in (("phone", checked.phone), ("email", checked.email))
            if value is None
        ]
        try:
            after = await self.contacts.update_details(
                contact.id,
                first_name=checked.first_name,
                last_name=checked.last_name,
                phone=checked.phone,
                email=checked.email,
                clear=clear,
            )
        except ContactNotFound:
            return EditResult(EditOutcome.GONE)
        except IdentityTaken:
            # Taken meanwhile by another contact: ask about that one.
            other = await self._holder(contact, checked)
            if other is None:
                raise
            clash = identity_clash(contact, other)
            outcome = EditOutcome.CONFLICT if clash else EditOutcome.NEEDS_MERGE
            return EditResult(outcome, contact=contact, other=other, channels=clash)
        zone_changed = checked.time_zone != contact.time_zone
        if zone_changed:
            await self.contacts.set_time_zone(contact.id, checked.time_zone)
            after = await self.contacts.require(contact.id)
        if after.version == contact.version and not zone_changed:
            return EditResult(EditOutcome.UNCHANGED, contact=after)
        return EditResult(EditOutcome.SAVED, contact=after)
