"""Conversation threads in SUPPORT_CHANNEL, fed through their own queue.

Producers (the inbound service, the relay, the follow-up and conversation
use cases) enqueue what changed; one poster across all replicas turns the
queue into `chat.postMessage` / `chat.update` calls within Slack's rate limits
(https://api.slack.com/docs/rate-limits: about one message per second per
channel with short bursts; `chat.update` is Tier 3) and honours `Retry-After`.
Entries coalesce: a message's entry is re-rendered from the store when it is
posted, so a burst of status changes becomes one update showing the latest.
Customer delivery never waits on Slack, and a Slack outage loses nothing: an
entry leaves the queue only once Slack took it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
import orjson
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import InboundMedia, InboundMessage, RateLimiter
from bot.domain.channels import Channel
from bot.domain.media import MediaKind
from bot.domain.messages import OutboundMessage
from bot.domain.models import Contact
from bot.services.followup import FollowupService
from bot.slack.blocks import threads as thread_blocks
from bot.slack.inbound_files import NotShown, ThreadFiles, default_name
from bot.slack.payloads import block_kit_json
from bot.slack.web_calls import (
    SETUP_ERRORS,
    SlackCalls,
    SlackUnavailable,
    retry_after,
    slack_away,
    slack_error,
)
from bot.store.contacts import ContactStore
from bot.store.keys import ContactId
from bot.store.outbox import OutboxStore
from bot.store.schedule import ScheduleStore
from bot.store.thread_queue import ThreadQueueStore

logger = logging.getLogger(__name__)


class ThreadQueue:
    """The producer side: cheap Redis writes, never a Slack call."""

    def __init__(self, store: ThreadQueueStore) -> None:
        self.store = store

    async def _enqueue(self, entry: str, payload: dict[str, Any]) -> None:
        payload["version"] = secrets.token_hex(4)  # tells a newer version from the handled one
        await self.store.put(entry, json.dumps(payload, ensure_ascii=False))

    async def customer_wrote(self, contact: Contact, message: InboundMessage) -> None:
        digest = hashlib.blake2b(
            f"{message.channel.value}:{message.channel_message_id}".encode(), digest_size=8
        ).hexdigest()
        await self._enqueue(
            f"in:{contact.id}:{digest}",
            {
                "kind": "inbound",
                "contact_id": contact.id,
                "channel": message.channel.value,
                "text": message.text,
            },
        )
        for number, media in enumerate(message.media):
            # After the message's entry (a later due time): fetched and uploaded
            # by the poster, which knows the thread (bot.slack.inbound_files).
            await self._enqueue(
                f"file:{contact.id}:{digest}:{number}",
                {
                    "kind": "file",
                    "contact_id": contact.id,
                    "channel": message.channel.value,
                    "media": {
                        "kind": media.kind.value,
                        "ref": media.ref,
                        "mime_type": media.mime_type,
                        "file_name": media.file_name,
                        "size": media.size,
                    },
                },
            )

    async def message_changed(self, contact_id: str, message: OutboundMessage) -> None:
        await self.messages_changed([(contact_id, message)])

    async def messages_changed(self, changes: Sequence[tuple[str, OutboundMessage]]) -> None:
        """`message_changed` for many (contact id, message) at once, in one round trip."""
        nonce = secrets.token_hex(4)  # one draw per batch; entries differ by their number
        items = []
        for number, (contact_id, message) in enumerate(changes):
            partition = ContactId.parse(contact_id).partition
            payload = {
                "kind": "message",
                "contact_id": contact_id,
                "partition": partition,
                "message_id": message.id,
                "version": f"{nonce}{number:x}",
            }
            items.append([f"m:{partition}:{message.id}", payload])
        if items:
            await self.store.put_many(orjson.dumps(items))

    async def event(self, contact_id: str, key: str, **params: str) -> None:
        """A line in the thread: reopened, closed, assigned, taken over."""
        await self._enqueue(
            f"ev:{contact_id}:{secrets.token_hex(6)}",
            {"kind": "event", "contact_id": contact_id, "key": key, "params": params},
        )

    async def scheduled_changed(self, contact_id: str, item_id: str, gone: str = "") -> None:
        """A waiting item was made or changed (`gone` empty), or left the schedule
        (`gone`: sent, cancelled, not_sent, reminded, dropped): its entry is posted
        once and updated in place."""
        await self._enqueue(
            f"s:{item_id}",
            {"kind": "scheduled", "contact_id": contact_id, "item": item_id, "gone": gone},
        )

    async def root_changed(self, contact_id: str) -> None:
        """Status, assignee or windows changed: refresh the thread's root."""
        await self._enqueue(f"root:{contact_id}", {"kind": "root", "contact_id": contact_id})


@dataclass(frozen=True)
class PosterTuning:
    post_rate: float = 1.0  # chat.postMessage per second into the channel
    post_burst: int = 4
    update_rate: float = 0.8  # chat.update (Tier 3: about 50 a minute)
    update_burst: int = 10
    idle_wait: float = 0.5  # seconds between looks at an empty queue
    lock_ms: int = 15_000
    max_pause: float = 60.0  # longest wait after errors (Slack down)
    files_at_once: int = 4  # customers' files fetched and uploaded side by side
    stop_files_wait: float = 10.0  # seconds a stopping poster lets files in flight finish
    file_retry: float = 5.0  # seconds before files start again after one failed (Slack away)
    #: Tries of a customer's file that fails for a reason of its own (its host cut
    #: it off, a fault): each waits twice as long as the last (from `file_retry`,
    #: at most `max_pause`); then the thread says it could not be fetched.
    file_tries: int = 5


#: A file that has not failed: no tries, nothing to wait for.
_NO_FAILURE = (0, 0.0)


class ThreadPoster:
    """The consumer side: one active poster across replicas (a lease in Redis)."""

    def __init__(
        self,
        queue: ThreadQueueStore,
        slack: AsyncWebClient,
        channel_id: str,
        *,
        contacts: ContactStore,
        outbox: OutboxStore,
        followups: FollowupService,
        schedule: ScheduleStore,
        lang: str = "en",
        name: str = "poster",
        tuning: PosterTuning = PosterTuning(),
        files: ThreadFiles | None = None,
    ) -> None:
        """`queue`: the entries to show; `followups` decides each window the root
        shows, under the deployment's policy."""
        self.queue = queue
        self.contacts = contacts
        self.outbox = outbox
        self.followups = followups
        self.schedule = schedule
        self.slack = slack
        self.channel_id = channel_id
        self.lang = lang
        self.name = name
        self.tuning = tuning
        #: Customers' files: fetched from their channel, uploaded into the thread.
        self.files = files
        self._posts = RateLimiter(tuning.post_rate, tuning.post_burst)
        self._updates = RateLimiter(tuning.update_rate, tuning.update_burst)
        self._calls = SlackCalls(slack, tuning.max_pause)
        #: Customers' files on their way (entry -> task), and whose (contact -> entry):
        #: a file that takes minutes to fetch holds back only its own conversation.
        self._files: dict[str, asyncio.Task[None]] = {}
        self._file_of: dict[str, str] = {}
        #: No file is started before this (loop time): one failed because Slack or
        #: Redis was away, and starting it again at once would fetch it again.
        self._files_resume_at = 0.0
        #: Files that failed for a reason of their own: (how often, not before when
        #: (loop time) it is tried again). Only that conversation waits.
        self._file_failures: dict[str, tuple[int, float]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                pause = self.tuning.idle_wait
                if await self._hold_lock():
                    try:
                        if await self.flush(limit=20, stop=stop, wait_for_files=False):
                            pause = 0
                    except SlackUnavailable as unavailable:
                        pause = unavailable.pause
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
        finally:
            await self._stop_files()

    @property
    def files_in_flight(self) -> int:
        """Customers' files being fetched and uploaded now."""
        return len(self._files)

    async def _stop_files(self) -> None:
        """Let the files in flight finish for a while, then cut them short: their
        entries stay queued, and the next poster shows them."""
        tasks = list(self._files.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self.tuning.stop_files_wait)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _hold_lock(self) -> bool:
        return await self.queue.hold(self.name, self.tuning.lock_ms)

    async def _renew_lock(self) -> None:
        """Renew the lock every third of its lease, until cancelled."""
        while True:
            await asyncio.sleep(self.tuning.lock_ms / 3000)
            with contextlib.suppress(RedisError):  # the flush will meet the outage itself
                await self._hold_lock()

    async def flush(
        self,
        limit: int = 100,
        stop: asyncio.Event | None = None,
        *,
        wait_for_files: bool = True,
    ) -> int:
        """Post or update up to `limit` due entries, oldest first; returns how many
        were done or started.

        The running poster (`run`, `wait_for_files=False`) fetches and uploads a
        customer's file in a task of its own (up to `files_at_once`), so a large
        one holds back only the entries of its own conversation that come after
        it (they wait, in order, for a later flush), not every thread. Otherwise
        each entry is shown in turn before this returns.

        Ends early once `stop` is set (the entries left stay queued). Raises
        SlackUnavailable (with how long to wait) when Slack refuses.
        """
        entries = await self.queue.due(limit)
        done = 0
        held: set[str] = set()  # contacts whose earlier entry waits: theirs wait too
        for entry in entries:
            if stop is not None and stop.is_set():
                break
            if entry in self._files:
                continue  # on its way
            raw = await self.queue.pending(entry)
            if raw is None:
                continue
            payload = json.loads(raw)
            contact_id = str(payload.get("contact_id", ""))
            if contact_id in self._file_of or contact_id in held:
                held.add(contact_id)
                continue
            if payload.get("kind") == "file" and self.files is not None and not wait_for_files:
                now = asyncio.get_running_loop().time()
                _, retry_at = self._file_failures.get(entry, _NO_FAILURE)
                paused = now < self._files_resume_at or now < retry_at
                if paused or len(self._files) >= self.tuning.files_at_once:
                    held.add(contact_id)
                    continue
                self._start_file(entry, raw, payload, contact_id)
            else:
                await self._show(entry, raw, payload)
            done += 1
        return done

    async def _show(self, entry: str, raw: str, payload: dict[str, Any]) -> None:
        """One entry shown (or found unshowable), then taken off the queue."""
        try:
            await self._process(payload)
        except SlackApiError as error:
            code = slack_error(error)
            if code in SETUP_ERRORS:
                # The app's setup is wrong (token, channel): keep everything.
                logger.error("slack refused the app", extra={"error": code})
                raise SlackUnavailable(self.tuning.max_pause) from None
            if slack_away(error):
                # Slack away or busy (a file's upload goes outside SlackCalls): kept.
                raise SlackUnavailable(retry_after(error, self.tuning.file_retry)) from None
            # This entry can never be shown (e.g. a block Slack rejects).
            logger.error("thread entry dropped", extra={"error": code, "entry": entry})
        await self.queue.done(entry, raw)

    def _start_file(self, entry: str, raw: str, payload: dict[str, Any], contact_id: str) -> None:
        task = asyncio.create_task(self._show_in_background(entry, raw, payload))
        self._files[entry] = task
        self._file_of[contact_id] = entry

        def forget(_: asyncio.Task[None]) -> None:
            self._files.pop(entry, None)
            if self._file_of.get(contact_id) == entry:
                del self._file_of[contact_id]

        task.add_done_callback(forget)

    async def _show_in_background(self, entry: str, raw: str, payload: dict[str, Any]) -> None:
        """`_show` for a file: a failure leaves the entry queued for a later try
        (as a failed flush does), and is logged here, where no caller hears it.

        Slack or Redis away holds every file back a while (each would fail
        alike). A failure of the file's own (its host cut it off, a fault) holds
        back only its conversation, longer after each try; after
        `file_tries` the thread says the file could not be fetched, and the
        conversation moves on.
        """
        failures, _ = self._file_failures.get(entry, _NO_FAILURE)
        if failures >= self.tuning.file_tries:
            payload = {**payload, "gave_up_after": failures}
        try:
            await self._show(entry, raw, payload)
        except SlackUnavailable as unavailable:
            logger.warning("customer file held: slack unavailable", extra={"entry": entry})
            self._hold_files(unavailable.pause)
        except RedisError as error:
            logger.warning(
                "customer file held", extra={"entry": entry, "error": type(error).__name__}
            )
            self._hold_files(self.tuning.file_retry)
        except Exception as error:  # no caller hears a task's failure: logged here
            self._file_failed(entry, error)
        else:
            self._file_failures.pop(entry, None)

    def _file_failed(self, entry: str, error: Exception) -> None:
        tries = self._file_failures.get(entry, _NO_FAILURE)[0] + 1
        wait = min(self.tuning.file_retry * 2 ** (tries - 1), self.tuning.max_pause)
        self._file_failures[entry] = (tries, asyncio.get_running_loop().time() + wait)
        transient = isinstance(error, (aiohttp.ClientError, TimeoutError))
        logger.log(
            logging.WARNING if transient else logging.ERROR,
            "customer file failed",
            extra={"entry": entry, "error": type(error).__name__, "tries": tries},
        )

    def _hold_files(self, seconds: float) -> None:
        """Start no file for `seconds` (the entries stay queued, in order)."""
        until = asyncio.get_running_loop().time() + seconds
        self._files_resume_at = max(self._files_resume_at, until)

    # --- one entry ---------------------------------------------------------------

    async def _process(self, payload: dict[str, Any]) -> None:
        contact = await self.contacts.get(payload["contact_id"])
        if contact is None:
            return  # the contact was deleted: nothing to show
        kind = payload["kind"]
        if kind == "root":
            await self._refresh_root(contact)
        elif kind == "inbound":
            text, body = thread_blocks.inbound_entry(
                contact, Channel(payload["channel"]), payload["text"], self.lang
            )
            await self._post_in_thread(contact, text, body)
        elif kind == "event":
            text, body = thread_blocks.event_entry(payload["key"], self.lang, **payload["params"])
            await self._post_in_thread(contact, text, body)
        elif kind == "message":
            await self._show_message(contact, int(payload["partition"]), payload["message_id"])
        elif kind == "scheduled":
            await self._show_scheduled(contact, payload["item"], payload.get("gone") or "")
        elif kind == "file":
            gave_up_after = int(payload.get("gave_up_after") or 0)
            await self._show_file(
                contact, Channel(payload["channel"]), payload["media"], gave_up_after
            )

    async def _show_file(
        self, contact: Contact, channel: Channel, row: dict[str, Any], gave_up_after: int = 0
    ) -> None:
        """A customer's file uploaded into the thread, or a line saying why it is not
        (`gave_up_after`: it failed that many tries, and is not fetched again)."""
        media = InboundMedia(
            kind=MediaKind(row["kind"]),
            ref=str(row["ref"]),
            mime_type=str(row.get("mime_type") or ""),
            file_name=str(row.get("file_name") or ""),
            size=row.get("size") if isinstance(row.get("size"), int) else None,
        )
        if self.files is None:
            return  # no media store here: the message's entry describes the file
        if gave_up_after:
            given_up = self.files.not_shown(
                channel,
                media,
                default_name(media),
                self.lang,
                "media.in.gave_up",
                {"tries": str(gave_up_after)},
            )
            logger.error("customer file given up", extra={"tries": gave_up_after})
            text, body = thread_blocks.event_entry(given_up.key, self.lang, **given_up.params)
            await self._post_in_thread(contact, text, body)
            return
        thread_ts = await self._thread_of(contact)
        await self._posts.acquire()
        # A large file may take longer than the lock's lease: renewed meanwhile,
        # so no other poster takes the queue over and uploads the file again.
        renewing = asyncio.create_task(self._renew_lock())
        try:
            shown = await self.files.show(
                self.slack,
                channel,
                media,
                slack_channel=self.channel_id,
                thread_ts=thread_ts,
                lang=self.lang,
            )
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        if isinstance(shown, NotShown):
            text, body = thread_blocks.event_entry(shown.key, self.lang, **shown.params)
            await self._post_in_thread(contact, text, body)

    async def _show_scheduled(self, contact: Contact, item_id: str, gone: str) -> None:
        """A waiting item's entry, posted once and then updated in place."""
        item = None if gone else await self.schedule.get(item_id)
        if item is not None:
            text, body = thread_blocks.scheduled_entry(item, contact, self.lang)
        else:
            text, body = thread_blocks.scheduled_gone_entry(gone or "cancelled", self.lang)
        partition = ContactId.parse(contact.id).partition
        slack_ts = await self.queue.scheduled_entry(partition, item_id)
        if await self._updated(slack_ts, text, body):
            if item is None:
                await self.queue.forget_scheduled_entry(partition, item_id)
            return
        if item is None:
            return  # never shown: nothing to close
        ts = await self._post_in_thread(contact, text, body)
        await self.queue.set_scheduled_entry(partition, item_id, ts)

    async def _show_message(self, contact: Contact, partition: int, message_id: str) -> None:
        message = await self.outbox.get_message(partition, message_id)
        if message is None:
            return
        text, body = thread_blocks.outbound_entry(message, self.lang)
        slack_ts = await self.queue.message_entry(partition, message_id)
        if await self._updated(slack_ts, text, body):
            return
        ts = await self._post_in_thread(contact, text, body)
        await self.queue.set_message_entry(partition, message_id, ts)

    async def _updated(self, slack_ts: str | None, text: str, body: list[Block]) -> bool:
        """Update the entry posted at `slack_ts`; False when there is none (never
        posted, or deleted in Slack): the caller posts it anew."""
        if not slack_ts:
            return False
        try:
            await self._call(
                "chat.update",
                self._updates,
                channel=self.channel_id,
                ts=slack_ts,
                text=text,
                blocks=body,
            )
        except SlackApiError as error:
            if slack_error(error) != "message_not_found":
                raise
            return False
        return True

    async def _thread_of(self, contact: Contact) -> str:
        """The current open period's thread, created on first need."""
        if contact.conversation.thread_ts:
            return contact.conversation.thread_ts
        previous_link = None
        if contact.conversation.previous_thread_ts:
            reply = await self._call(
                "chat.getPermalink",
                None,
                channel=self.channel_id,
                message_ts=contact.conversation.previous_thread_ts,
            )
            previous_link = cast(str | None, reply.get("permalink"))
        decisions = await self.followups.decisions_for(contact)
        text, body = thread_blocks.thread_root(contact, decisions, self.lang, previous_link)
        reply = await self._call(
            "chat.postMessage", self._posts, channel=self.channel_id, text=text, blocks=body
        )
        ts = str(reply["ts"])
        await self.contacts.set_thread(contact.id, ts)
        return ts

    async def _refresh_root(self, contact: Contact) -> None:
        if not contact.conversation.thread_ts:
            await self._thread_of(contact)
            return
        decisions = await self.followups.decisions_for(contact)
        text, body = thread_blocks.thread_root(contact, decisions, self.lang)
        await self._call(
            "chat.update",
            self._updates,
            channel=self.channel_id,
            ts=contact.conversation.thread_ts,
            text=text,
            blocks=body,
        )

    async def _post_in_thread(self, contact: Contact, text: str, body: list[Block]) -> str:
        thread_ts = await self._thread_of(contact)
        reply = await self._call(
            "chat.postMessage",
            self._posts,
            channel=self.channel_id,
            thread_ts=thread_ts,
            text=text,
            blocks=body,
        )
        return str(reply["ts"])

    async def _call(self, method: str, limiter: RateLimiter | None, **args: Any) -> Any:
        """One Web API call; 429 and outages become SlackUnavailable (entry kept)."""
        if "blocks" in args:
            args["blocks"] = block_kit_json(args["blocks"])  # to_dict()'s JSON, a tenth of its CPU
        return await self._calls.call(method, limiter, **args)
