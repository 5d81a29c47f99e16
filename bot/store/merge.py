"""Merging two contacts: three single-slot steps, each atomic, resumable.

Merging spans two partitions, which may be two Cluster slots: no one script
covers both. It is three single-partition steps, each its own script:

1. intent (`merge_intent.lua`), on the merged contact M: `mg` = the
   survivor S, `mgs` = pending, and M in its partition's `merging` set.
   From here every contact script refuses M but a merge step ({"merged", S}):
   writers go to S, so M cannot change under the merge.
2. absorb (`merge_absorb.lua`), on S: every identity and handle of M, its
   name, phone or e-mail where S has none, the latest customer message per
   channel (and its window, WeChat count and reachability), the open
   conversation and its thread if S's is closed; `mf` records M and the
   version absorbed, so the step is done once (an identity both hold on one
   channel is refused before step 1: it would be lost).
3. tombstone (`merge_tombstone.lua`), on M: its index entries and set
   memberships go, `mgs` = done, out of `merging`. The hash stays as a
   redirect: its id, its thread links (`threads`, found by
   `find_by_thread`), its outbox messages and their history keep resolving
   to S (`get`, `get_many` and every change follow `mg`).

A crash leaves M pending: `resume_merges` (and any read of M) finishes it.
Before step 3 both contacts answer to M's identities; lookups take either
and land on S.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import cast

from bot.domain.channels import Channel
from bot.domain.models import Contact, ConversationStatus, to_epoch
from bot.store.contact_codec import (
    F_ASSIGNEE,
    F_CLOSED_AT,
    F_CLOSED_REASON,
    F_EMAIL_SUBJECT,
    F_EMAIL_THREAD_ID,
    F_LAST_INBOUND,
    F_MERGE_STATE,
    F_MERGED_FROM,
    F_MERGED_INTO,
    F_OPENED_AT,
    F_PREV_THREAD,
    F_STATUS,
    F_THREAD,
    F_VERSION,
    F_WECHAT_COUNT,
    F_WECHAT_WINDOW,
    INBOUND_FIELD,
    MERGE_DONE,
    MERGE_PENDING,
    REACH_AT_FIELD,
    UNREACHABLE_FIELD,
    ContactDraft,
    contact_from_hash,
    indexed_terms,
    merged_from,
    sort_score,
)
from bot.store.contact_records import (
    MAX_ATTEMPTS,
    ConcurrentUpdate,
    ContactNotFound,
    ContactRecords,
)
from bot.store.index_writes import ContactWrite, index_window, leave_sets, move, reindex
from bot.store.keys import ContactId
from bot.store.scripts import (
    MERGE_ABSORB,
    MERGE_INTENT,
    MERGE_REDIRECT,
    MERGE_TOMBSTONE,
    MERGE_UNDO,
    parse_reply,
)


class MergeConflict(ValueError):
    """Both contacts have an identity on the same channel: merging would lose one."""

    def __init__(self, channels: tuple[Channel, ...]) -> None:
        super().__init__(", ".join(channel.value for channel in channels))
        self.channels = channels


def identity_clash(survivor: Contact, merged: Contact) -> tuple[Channel, ...]:
    """Channels on which both contacts have a different identity."""
    return tuple(
        channel
        for channel, identity in merged.identities.items()
        if survivor.identities.get(channel, identity) != identity
    )


class ContactMerges(ContactRecords):
    async def merge(self, survivor_id: str, merged_id: str, now: datetime) -> Contact:
        """Merge contact `merged_id` into `survivor_id`; returns the survivor.

        Keeps every identity, handle, message and thread link (the merged id
        redirects to the survivor). Raises MergeConflict when both have an
        identity on one channel (a contact has one per channel: one would be
        lost), ContactNotFound when either is gone.
        """
        survivor = await self.require(survivor_id)
        merged = await self.require(merged_id)
        if survivor.id == merged.id:
            return survivor  # merged already (a repeated confirmation)
        clash = identity_clash(survivor, merged)
        if clash:
            raise MergeConflict(clash)
        await self._merge_intent(merged.id, survivor.id, now)
        return await self.finish_merge(merged.id)

    async def _merge_intent(self, merged_id: str, survivor_id: str, now: datetime) -> None:
        """Step 1: mark the merged contact; from here only merge steps may change it.

        A contact merged elsewhere meanwhile keeps that merge (this one is moot).
        """
        cid = ContactId.parse(merged_id)
        key = self.keys.contact(cid)
        for _ in range(MAX_ATTEMPTS):
            version = cast(str | None, await self.redis.hget(key, F_VERSION))
            write = ContactWrite(key).expect_version(version)
            write.set({F_MERGED_INTO: survivor_id, F_MERGE_STATE: MERGE_PENDING})
            write.zadd(self.keys.merging(cid.partition), to_epoch(now), cid.local)
            reply = parse_reply(await MERGE_INTENT(self.redis, write.keys, write.argv()))
            if reply.ok or reply.outcome == "merged":
                return
            if reply.outcome == "missing":
                raise ContactNotFound(merged_id)
            await asyncio.sleep(0)
        raise ConcurrentUpdate(merged_id)

    async def finish_merge(self, merged_id: str) -> Contact:
        """Steps 2 and 3 of a begun merge, each done once however often this runs
        (after a crash, or by two readers at once); returns the survivor."""
        mcid = ContactId.parse(merged_id)
        mkey = self.keys.contact(mcid)
        for _ in range(MAX_ATTEMPTS):
            mdata = cast(dict[str, str], await self.redis.hgetall(mkey))
            survivor_id = mdata.get(F_MERGED_INTO)
            if not survivor_id:
                return await self.require(merged_id)  # not merged (or undone)
            if mdata.get(F_MERGE_STATE) == MERGE_DONE:
                return await self.require(survivor_id)
            scid = ContactId.parse(survivor_id)
            skey = self.keys.contact(scid)
            sdata = cast(dict[str, str], await self.redis.hgetall(skey))
            if not sdata:
                await self._undo_intent(mcid, mdata)
                raise ContactNotFound(survivor_id)
            if sdata.get(F_MERGED_INTO):
                # The survivor was merged away meanwhile: merge into its survivor.
                onward = await self.require(survivor_id)
                write = ContactWrite(mkey).expect_version(mdata.get(F_VERSION))
                write.set({F_MERGED_INTO: onward.id})
                await MERGE_REDIRECT(self.redis, write.keys, write.argv())
                continue
            version = mdata.get(F_VERSION, "")
            absorbed = merged_from(sdata.get(F_MERGED_FROM, ""))
            if absorbed.get(merged_id) != version:
                survivor = contact_from_hash(survivor_id, sdata)
                merged = contact_from_hash(merged_id, mdata)
                clash = identity_clash(survivor, merged)
                if clash:
                    await self._undo_intent(mcid, mdata)
                    raise MergeConflict(clash)
                write = ContactWrite(skey, self.keys.thread_contacts(scid.partition))
                write.expect_version(sdata.get(F_VERSION))
                thread = self._absorb(write, scid, survivor, sdata, merged, mdata)
                absorbed[merged_id] = version
                write.set({F_MERGED_FROM: ",".join(f"{k}@{v}" for k, v in absorbed.items())})
                reply = parse_reply(
                    await MERGE_ABSORB(self.redis, write.keys, write.argv(thread, scid.local))
                )
                if not reply.ok:
                    await asyncio.sleep(0)
                    continue
            write = ContactWrite(mkey).expect_version(version)
            self._tombstone(write, mcid, contact_from_hash(merged_id, mdata))
            reply = parse_reply(await MERGE_TOMBSTONE(self.redis, write.keys, write.argv()))
            if reply.ok:
                return await self.require(survivor_id)
            await asyncio.sleep(0)
        raise ConcurrentUpdate(merged_id)

    async def resume_merges(self) -> int:
        """Finish every merge a crash left half done (each partition's `merging` set)."""
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.keys.partitions):
            pipe.zrange(self.keys.merging(p), 0, -1)
        replies: list[list[str]] = await pipe.execute()
        finished = 0
        for p, locals_ in enumerate(replies):
            for local in locals_:
                # A merge undone (a clash, the survivor gone) leaves both as they were.
                with contextlib.suppress(MergeConflict, ContactNotFound):
                    await self.finish_merge(f"{p}-{local}")
                finished += 1
        return finished

    async def _undo_intent(self, cid: ContactId, data: Mapping[str, str]) -> None:
        """A merge that cannot finish (a clash, the survivor gone): M stays itself."""
        write = ContactWrite(self.keys.contact(cid)).expect_version(data.get(F_VERSION))
        write.delete(F_MERGED_INTO, F_MERGE_STATE)
        write.zrem(self.keys.merging(cid.partition), cid.local)
        await MERGE_UNDO(self.redis, write.keys, write.argv())

    def _tombstone(self, write: ContactWrite, cid: ContactId, merged: Contact) -> None:
        """Step 3: the merged contact leaves the indexes and sets; its hash redirects."""
        leave_sets(write, self.keys, cid, merged)
        write.set({F_MERGE_STATE: MERGE_DONE})
        write.zrem(self.keys.merging(cid.partition), cid.local)

    def _absorb(
        self,
        write: ContactWrite,
        cid: ContactId,
        survivor: Contact,
        sdata: Mapping[str, str],
        merged: Contact,
        mdata: Mapping[str, str],
    ) -> str:
        """Step 2: the survivor takes the merged contact's details and conversation.

        Returns the thread the survivor takes ("": none)."""
        s_conv, m_conv = survivor.conversation, merged.conversation
        identities = {**merged.identities, **survivor.identities}
        named = bool(survivor.first_name or survivor.last_name)
        draft = ContactDraft(
            first_name=survivor.first_name if named else merged.first_name,
            last_name=survivor.last_name if named else merged.last_name,
            email=survivor.email or merged.email,
            phone=survivor.phone or merged.phone,
            identities=identities,
            handles={**merged.handles, **survivor.handles},
        )
        inbound = dict(s_conv.last_inbound_at)
        for channel, at in m_conv.last_inbound_at.items():
            if channel not in inbound or at > inbound[channel]:
                index_window(write, self.keys, cid, channel, inbound.get(channel), at)
                inbound[channel] = at
        score = sort_score(inbound)
        takes_thread = (
            s_conv.status is ConversationStatus.CLOSED and m_conv.status is ConversationStatus.OPEN
        )
        status = ConversationStatus.OPEN if takes_thread else s_conv.status
        assignee = m_conv.assignee if takes_thread else s_conv.assignee
        # New name terms go straight to the status and score the survivor ends with.
        ending = replace(
            survivor,
            conversation=replace(s_conv, status=status, last_inbound_at=inbound),
        )
        reindex(
            write,
            self.keys,
            cid,
            ending,
            indexed_terms(survivor),
            draft.terms().terms,
            draft,
            indexed_terms(merged),
        )
        move(write, self.keys, cid, survivor, status=status, assignee=assignee, score=score)
        fields = {INBOUND_FIELD + ch.value: str(to_epoch(at)) for ch, at in inbound.items()}
        fields[F_LAST_INBOUND] = str(score)
        fields[F_STATUS] = status.value
        if assignee:
            fields[F_ASSIGNEE] = assignee
        else:
            write.delete(F_ASSIGNEE)
        for channel in merged.identities.keys() - survivor.identities.keys():
            # What the merged contact's channels had: reachability, WeChat's count.
            for name in (UNREACHABLE_FIELD + channel.value, REACH_AT_FIELD + channel.value):
                if name in mdata:
                    fields[name] = mdata[name]
            if channel is Channel.WECHAT:
                for name in (F_WECHAT_COUNT, F_WECHAT_WINDOW):
                    if name in mdata:
                        fields[name] = mdata[name]
        if not sdata.get(F_EMAIL_THREAD_ID) and mdata.get(F_EMAIL_THREAD_ID):
            fields[F_EMAIL_THREAD_ID] = mdata[F_EMAIL_THREAD_ID]
            fields[F_EMAIL_SUBJECT] = mdata.get(F_EMAIL_SUBJECT, "")
        thread = ""
        if takes_thread:
            # The open conversation is the merged one's: its thread goes on.
            for name in (F_THREAD, F_OPENED_AT):
                if mdata.get(name):
                    fields[name] = mdata[name]
            if s_conv.thread_ts:
                fields[F_PREV_THREAD] = s_conv.thread_ts
            write.delete(F_CLOSED_REASON, F_CLOSED_AT)
            thread = m_conv.thread_ts or ""
        write.set(fields)
        return thread
