"""Every Redis key name is built here, and only here.

Contacts are spread over a fixed number of partitions. A partition is a hash
tag (`{p17}`) shared by its contacts' records, its search index buckets, its
status and inbox sets and its outbox stream, so that any write about one
contact is one script on one hash slot (Redis Cluster ready). Only the
account-wide Viber quota and the WhatsApp templates live apart.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.domain.contacts import TermKind
from bot.domain.models import ConversationStatus

PREFIX = "fu"

#: Length of the bucket segment of an index key, per term kind. A query must
#: be at least this long (after folding) to be answered from one bucket.
BUCKET_CHARS: dict[TermKind, int] = {
    TermKind.NAME: 2,
    TermKind.EMAIL: 3,
    TermKind.PHONE: 3,
    TermKind.IDENTITY: 3,
    TermKind.HANDLE: 3,
}
#: Length of the bucket segment of a recency bucket: a name query at least
#: this long walks one bucket in which every member starts like it.
RECENCY_CHARS = 3


def stable_hash(value: str) -> int:
    """A hash that is the same in every process (unlike `hash()`)."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class ContactId:
    """A contact id is `<partition>-<sequence>`: the partition is in the id."""

    partition: int
    local: str

    def __str__(self) -> str:
        return f"{self.partition}-{self.local}"

    @classmethod
    def parse(cls, value: str) -> ContactId:
        return _parse_contact_id(value)


@dataclass(frozen=True)
class Keys:
    """Key names for a deployment with `partitions` partitions."""

    partitions: int
    prefix: str = PREFIX  # a namespace; tests give each test its own
    #: Each partition's tag, made once: every key of a relayed message starts with one.
    _tags: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tags = tuple(f"{self.prefix}:{{p{p}}}" for p in range(max(self.partitions, 0)))
        object.__setattr__(self, "_tags", tags)

    # --- partition-level -------------------------------------------------

    def tag(self, partition: int) -> str:
        if not 0 <= partition < self.partitions:
            raise ValueError(f"partition {partition} out of range")
        return self._tags[partition]

    def home_partition(self, natural_key: str) -> int:
        """Where a new contact lives: by its phone, e-mail or first identity."""
        return stable_hash(natural_key) % self.partitions

    def sequence(self, partition: int) -> str:
        return f"{self.tag(partition)}:seq"

    def inbox_set(self, partition: int, assignee: str) -> str:
        """Contacts of a partition assigned to one agent, scored likewise."""
        return f"{self.tag(partition)}:as:{assignee}"

    def index_bucket(self, partition: int, kind: TermKind, term: str) -> str:
        """The lexicographic index bucket that holds `term` (and its prefixes)."""
        return self.tag(partition) + index_bucket_suffix(kind, term)

    def recency_bucket(self, partition: int, status: ConversationStatus, term: str) -> str:
        """Name terms of one bucket and status, scored by the customer's last message.

        Same members as the name bucket (`term\0local`): a broad name prefix
        is answered by walking it newest first, where most members match, and
        the score is the sort key, so no contact needs reading.
        """
        return self.tag(partition) + recency_bucket_suffix(status, term)

    def in_partition(self, partition: int, suffixes: Sequence[str]) -> list[str]:
        """Keys of `partition` from their partition-free suffixes (`*_suffix` below):
        a search names the same buckets on every partition, so it builds their
        names once per query and only prefixes each partition's tag."""
        tag = self.tag(partition)
        return [tag + suffix for suffix in suffixes]

    def merging(self, partition: int) -> str:
        """Merges of this partition's contacts begun and not finished: local id,
        scored by when it began (`ContactStore.resume_merges` finishes them)."""
        return f"{self.tag(partition)}:merging"

    def outbox(self, partition: int) -> str:
        return f"{self.tag(partition)}:outbox"

    def webhook_intake(self, partition: int) -> str:
        """Verified channel webhook events waiting to be processed (a stream).

        Sharded by the customer (`webhook_shard`), not by contact: the contact
        is known only once the event is processed."""
        return f"{self.tag(partition)}:wh"

    def webhook_shard(self, channel: str, sender: str) -> int:
        """The intake stream of a customer's events: one customer's stay in order."""
        return stable_hash(f"{channel}\0{sender}") % self.partitions

    # --- per contact -----------------------------------------------------

    def contact(self, cid: ContactId) -> str:
        return f"{self.tag(cid.partition)}:c:{cid.local}"

    def contact_prefix(self, partition: int) -> str:
        """For scripts that read contacts found in an index (`prefix .. local`)."""
        return f"{self.tag(partition)}:c:"

    def contact_messages(self, cid: ContactId) -> str:
        """The contact's recent outbound message ids, newest first."""
        return f"{self.tag(cid.partition)}:cm:{cid.local}"

    def message(self, partition: int, message_id: str) -> str:
        return f"{self.tag(partition)}:m:{message_id}"

    def inbound_seen(self, partition: int, channel: str, channel_message_id: str) -> str:
        """Marks a customer message as processed (repeated webhook deliveries)."""
        digest = hashlib.blake2b(channel_message_id.encode(), digest_size=10).hexdigest()
        return f"{self.tag(partition)}:seen:{channel}:{digest}"

    def send_lease(self, partition: int, message_id: str) -> str:
        """Held by the consumer sending a message, while it sends."""
        return f"{self.tag(partition)}:lease:{message_id}"

    def retry_schedule(self, partition: int) -> str:
        """Outbox messages waiting to be tried again, scored by when."""
        return f"{self.tag(partition)}:retry"

    # --- account-wide ------------------------------------------------------

    def channel_message(self, channel: str, channel_message_id: str) -> str:
        """Our message behind a channel's message id (status webhooks name only that)."""
        digest = hashlib.blake2b(channel_message_id.encode(), digest_size=12).hexdigest()
        return f"{self.prefix}:cmid:{{{channel}:{digest}}}"

    def viber_quota(self, month: str) -> str:
        """Chatbot-initiated Viber messages sent in a calendar month (`YYYY-MM`)."""
        return f"{self.prefix}:{{viber}}:quota:{month}"

    def line_month_spent(self) -> str:
        """The month (`YYYY-MM`) LINE refused pushes in for the monthly limit."""
        return f"{self.prefix}:{{line}}:spent"

    def line_quota(self) -> str:
        """LINE's monthly push quota and consumption, as last read (cached a minute)."""
        return f"{self.prefix}:{{line}}:quota"

    def thread_pending(self) -> str:
        """Slack thread entries waiting to be posted or updated: entry -> payload."""
        return f"{self.prefix}:{{slack}}:pending"

    def thread_due(self) -> str:
        """The same entries in the order they were first enqueued."""
        return f"{self.prefix}:{{slack}}:due"

    def thread_lock(self) -> str:
        """Held by the one replica that posts to Slack (one poster keeps the rate)."""
        return f"{self.prefix}:{{slack}}:lock"

    def wechat_token(self) -> str:
        """The WeChat access token, shared by every replica."""
        return f"{self.prefix}:{{wechat}}:token"

    def wechat_token_lock(self) -> str:
        """Held by the replica fetching a new WeChat access token."""
        return f"{self.prefix}:{{wechat}}:token:lock"

    def wechat_nonce(self, stamp_and_nonce: str) -> str:
        """A WeChat callback's timestamp and nonce, seen (for as long as it could be replayed)."""
        digest = hashlib.sha1(stamp_and_nonce.encode()).hexdigest()[:24]
        return f"{self.prefix}:{{wechat}}:nonce:{digest}"

    def whatsapp_templates(self) -> str:
        return f"{self.prefix}:{{templates}}:whatsapp"

    def template_sync_lock(self) -> str:
        """Held by the replica that syncs the templates; its expiry spaces the syncs."""
        return f"{self.prefix}:{{templates}}:sync"

    def meta(self) -> str:
        return f"{self.prefix}:{{meta}}"

    # --- liveness and the durable Slack intake -----------------------------------

    def consumer_alive(self, consumer: str) -> str:
        """Present while the process named `consumer` lives (a short TTL it refreshes)."""
        return f"{self.prefix}:alive:{{{consumer}}}"

    def intake_work(self) -> str:
        """Agents' submissions taken and not yet worked: entry id -> payload (JSON)."""
        return f"{self.prefix}:{{intake}}:work"

    def intake_owner(self) -> str:
        """Entry id -> the consumer working it (another takes it over if that one dies)."""
        return f"{self.prefix}:{{intake}}:owner"

    def intake_tries(self) -> str:
        """Entry id -> how many times a process took it over (a poison entry is dropped)."""
        return f"{self.prefix}:{{intake}}:tries"

    def intake_seen(self, entry_id: str) -> str:
        """Marks a submission as taken (Slack's retries and re-runs act once)."""
        return f"{self.prefix}:{{intake}}:seen:{entry_id}"

    # --- people (Slack users) --------------------------------------------------

    def user(self, user_id: str) -> str:
        """One Slack user's settings: the language they picked, their cached locale."""
        return f"{self.prefix}:u:{{{user_id}}}"

    def recently_closed(self, user_id: str) -> str:
        """Contact ids the user closed lately, newest first (App Home)."""
        return f"{self.prefix}:u:{{{user_id}}}:closed"

    def alert_sent(self, event: str) -> str:
        """Marks a personal alert as sent (no alert twice, across replicas)."""
        digest = hashlib.blake2b(event.encode(), digest_size=12).hexdigest()
        return f"{self.prefix}:alert:{{{digest}}}"

    def window_alerts(self, partition: int) -> str:
        """Windows to warn about: `local|channel|inbound epoch`, scored by when the
        window's free text closes (the sweep warns WINDOW_ALERT_MINUTES before)."""
        return f"{self.tag(partition)}:walert"

    # --- App Home and personal alerts -------------------------------------------

    def open_assigned(self, partition: int) -> str:
        """Open, assigned conversations of a partition: `assignee\\0local`, all scored 0.

        A lexicographic set: one agent's are a range (their App Home), all of
        them are the team view; kept in step with status and assignee by the
        same script that changes them.
        """
        return f"{self.tag(partition)}:open"

    def alert_pending(self) -> str:
        """Personal alerts waiting to be sent: entry -> payload (newest version)."""
        return f"{self.prefix}:{{alerts}}:pending"

    def alert_due(self) -> str:
        """The same entries, scored by when they may be sent (retries move them on)."""
        return f"{self.prefix}:{{alerts}}:due"

    def alert_lock(self) -> str:
        """Held by the one replica that sends alerts (one sender keeps the rate)."""
        return f"{self.prefix}:{{alerts}}:lock"

    def thread_link(self, thread_ts: str) -> str:
        """A thread root's permalink, as Slack gave it (permalinks never change)."""
        return f"{self.prefix}:link:{{{thread_ts}}}"

    # --- the compose flow: a thread's contact ---------------------------------------

    # --- follow-ups in time (bot/store/schedule.py) ---------------------------

    def schedule_due(self, partition: int) -> str:
        """Items of a partition waiting for their time, scored by due epoch ms."""
        return f"{self.tag(partition)}:sched:due"

    def schedule_running(self, partition: int) -> str:
        """Items being done, scored by when their lease runs out (epoch ms)."""
        return f"{self.tag(partition)}:sched:run"

    def schedule_item_prefix(self, partition: int) -> str:
        return f"{self.tag(partition)}:sched:item:"

    def schedule_item(self, partition: int, item_id: str) -> str:
        return f"{self.schedule_item_prefix(partition)}{item_id}"

    def schedule_listed(self, partition: int) -> str:
        """Every waiting item of a partition, for the team view (score: due ms,
        or +inf for "when they write")."""
        return f"{self.tag(partition)}:sched:all"

    def schedule_agent_prefix(self, partition: int) -> str:
        return f"{self.tag(partition)}:sched:agent:"

    def schedule_agent(self, partition: int, agent: str) -> str:
        """One agent's waiting items of a partition, scored like `schedule_listed`."""
        return f"{self.schedule_agent_prefix(partition)}{agent}"

    def schedule_thread_entries(self, partition: int) -> str:
        """Item id → the Slack ts of its entry in the conversation's thread."""
        return f"{self.tag(partition)}:sched:ts"

    def schedule_contact(self, cid: ContactId) -> str:
        """The ids of one contact's waiting items."""
        return f"{self.tag(cid.partition)}:sched:c:{cid.local}"

    def thread_contacts(self, partition: int) -> str:
        """Thread root ts -> contact local id, for the partition's contacts.

        Written with the thread (`ContactStore.set_thread`), in the contact's
        partition so one script records both; the message shortcut finds a
        thread's contact from it (`ContactStore.find_by_thread`).
        """
        return f"{self.tag(partition)}:threads"


@functools.lru_cache(maxsize=16_384)
def _parse_contact_id(value: str) -> ContactId:
    """`ContactId.parse`, kept: the relay parses each message's contact id
    several times (claim, partition, thread entry). A bad id is not kept."""
    partition, sep, local = value.strip().partition("-")
    if not sep or not partition.isdigit() or not local.isalnum():
        raise ValueError(f"not a contact id: {value!r}")
    return ContactId(int(partition), local)


def index_bucket_suffix(kind: TermKind, term: str) -> str:
    """`Keys.index_bucket` after the partition's tag."""
    if kind is TermKind.IDENTITY or kind is TermKind.HANDLE:
        # Identities and handles are only ever looked up whole: bucket by
        # their last characters, which spread (a WhatsApp number's first
        # ones don't).
        channel, _, value = term.partition(":")
        bucket = f"{channel}:{value[-BUCKET_CHARS[kind] :]}"
    else:
        bucket = term[: BUCKET_CHARS[kind]]
    return f":ix:{kind.value}:{bucket}"


def recency_bucket_suffix(status: ConversationStatus, term: str) -> str:
    """`Keys.recency_bucket` after the partition's tag."""
    return f":rx:{status.value}:{term[:RECENCY_CHARS]}"
