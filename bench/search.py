"""Contact search benchmark: p50/p99 per field type and Redis bytes per contact.

Loads N synthetic contacts (Latin, Arabic and accented names; phones of
several countries; e-mails; channel identities; Telegram and Instagram
usernames) through the store's own
pipelined write path into a private redis-server (or REDIS_URL), then times
searches of each field type (All inboxes, any status, most recent first:
the widest filter). Ends with one JSON line.

    python bench/search.py                 # 1,000,000 contacts
    python bench/search.py --contacts 20000 --queries 100   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import percentile
from bot.domain.channels import Channel
from bot.domain.models import ConversationStatus
from bot.store.connection import RedisClient, create_redis
from bot.store.contacts import ContactDraft, ContactStore
from bot.store.keys import Keys
from bot.store.scripts import load_all
from bot.store.search import ContactSearch, SearchFilters
from bot.store.server import RedisServer

LATIN_FIRST = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Nancy",
    "Daniel",
    "Lisa",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Dorothy",
    "George",
    "Melissa",
    "Timothy",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Edward",
    "Rebecca",
    "Jason",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Kathleen",
    "Gary",
    "Amy",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Anna",
    "Stephen",
    "Brenda",
    "Larry",
    "Pamela",
    "Justin",
    "Emma",
    "Scott",
    "Nicole",
    "Brandon",
    "Helen",
    "Benjamin",
    "Samantha",
    "Samuel",
    "Katherine",
    "Gregory",
    "Christine",
    "Alexander",
    "Debra",
    "Frank",
    "Rachel",
    "Patrick",
    "Carolyn",
    "Raymond",
    "Janet",
    "Jack",
    "Catherine",
    "Dennis",
    "Maria",
    "Jerry",
    "Heather",
    "Tyler",
    "Diane",
    "Aaron",
    "Ruth",
    "Jose",
    "Julie",
    "Adam",
    "Olivia",
    "Nathan",
    "Joyce",
    "Henry",
    "Virginia",
    "Omar",
    "Sara",
    "Priya",
    "Raj",
    "Wei",
    "Ling",
    "Kenji",
    "Yuki",
    "Olga",
    "Ivan",
    "Fatou",
    "Kwame",
    "Amara",
    "Chen",
    "Mei",
    "Arjun",
    "Deepa",
]
ACCENTED_FIRST = [
    "José",
    "María",
    "Jesús",
    "Ángel",
    "Andrés",
    "Sofía",
    "Lucía",
    "Martín",
    "Raúl",
    "Inés",
    "Noémie",
    "Élodie",
    "Hélène",
    "Jérôme",
    "François",
    "Zoë",
    "Chloé",
    "Bérénice",
    "Ömer",
    "Çağla",
    "Şule",
    "Gülşen",
    "İlker",
    "Müge",
    "Jürgen",
    "Jörg",
    "Björn",
    "Åsa",
    "Søren",
    "Mårten",
    "Ðorđe",
    "Łukasz",
    "Paweł",
    "Małgorzata",
    "Tomáš",
    "Dušan",
    "Jiří",
    "Renée",
    "Désirée",
    "Amélie",
    "Cécile",
    "Mónica",
    "Verónica",
    "Tomás",
    "Joaquín",
    "Sebastián",
    "Nicolás",
    "Ramón",
    "Adrián",
    "Iñaki",
    "Begoña",
    "Núria",
    "João",
    "Conceição",
]
ARABIC_FIRST = [
    "محمد",
    "أحمد",
    "علي",
    "عمر",
    "يوسف",
    "إبراهيم",
    "خالد",
    "عبدالله",
    "حسن",
    "حسين",
    "مصطفى",
    "محمود",
    "طارق",
    "سعيد",
    "ماجد",
    "فاطمة",
    "عائشة",
    "مريم",
    "زينب",
    "خديجة",
    "سارة",
    "نور",
    "ليلى",
    "هدى",
    "أمل",
    "سلمى",
    "رنا",
    "دينا",
    "منى",
    "آمنة",
    "إيمان",
    "ياسمين",
    "جميلة",
    "رقية",
    "أسماء",
    "هالة",
    "سعاد",
    "نادية",
    "وفاء",
    "رشا",
    "لبنى",
    "بشرى",
    "شيماء",
    "نهى",
    "ريم",
    "غادة",
    "عادل",
    "كريم",
    "جمال",
    "سامي",
    "وليد",
    "رامي",
    "زياد",
    "فهد",
    "سلطان",
    "بدر",
    "ناصر",
    "فيصل",
    "تركي",
    "منصور",
    "راشد",
]
LATIN_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Patel",
    "Shah",
    "Kumar",
    "Singh",
    "Wang",
    "Zhang",
    "Tanaka",
    "Sato",
    "Ivanova",
    "Petrov",
    "Okafor",
    "Mensah",
    "Haddad",
    "Khoury",
]
ACCENTED_LAST = [
    "Álvarez",
    "Gómez",
    "Pérez",
    "Sánchez",
    "Martínez",
    "Jiménez",
    "Fernández",
    "González",
    "Rodríguez",
    "Muñoz",
    "Núñez",
    "Müller",
    "Schröder",
    "Bäcker",
    "Jäger",
    "Öztürk",
    "Yılmaz",
    "Şahin",
    "Çelik",
    "Doğan",
    "Lefèvre",
    "Dubé",
    "Gagné",
    "Bélanger",
    "Côté",
    "Pétrović",
    "Đorđević",
    "Wiśniewski",
    "Dvořák",
    "Novák",
    "Brandão",
    "Magalhães",
    "Araújo",
    "Gonçalves",
]
ARABIC_LAST = [
    "الهاشمي",
    "المنصوري",
    "الزعابي",
    "الكعبي",
    "الشامسي",
    "النعيمي",
    "العلي",
    "الحمادي",
    "المهيري",
    "السويدي",
    "القاسمي",
    "الظاهري",
    "البلوشي",
    "الشحي",
    "المطيري",
    "العتيبي",
    "الدوسري",
    "القحطاني",
    "الغامدي",
    "الزهراني",
    "إبراهيم",
    "عبدالرحمن",
    "حسان",
    "الخطيب",
    "الحداد",
    "النجار",
    "الصباغ",
    "العطار",
    "الحلبي",
    "الدمشقي",
    "المصري",
]

COUNTRIES = (
    # (E.164 prefix, national trunk prefix, remaining digits)
    ("+97150", "050", 7),
    ("+97155", "055", 7),
    ("+9665", "05", 8),
    ("+2010", "010", 8),
    ("+4477", "077", 8),
    ("+1212", "212", 7),
    ("+9198", "098", 8),
    ("+3361", "061", 7),
)
AGENTS = [f"U0AGENT{i:02d}" for i in range(25)]
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def ascii_fold(text: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower() or "user"


def synthetic_identity(channel: Channel, i: int, phone: str) -> str:
    """An identity shaped like the channel's own (length and alphabet)."""
    token = hashlib.blake2b(str(i).encode(), digest_size=16).hexdigest()
    match channel:
        case Channel.WHATSAPP:
            return phone[1:]
        case Channel.TELEGRAM:
            return str(100_000_000 + i)  # a chat id
        case Channel.MESSENGER:
            return str(6_100_000_000_000_000 + i)  # a page-scoped id, 16 digits
        case Channel.INSTAGRAM:
            return str(17_841_400_000_000_000 + i)  # an IGSID, 17 digits
        case Channel.WECHAT:
            return "o" + base64.urlsafe_b64encode(bytes.fromhex(token)).decode()[:27]  # openid
        case Channel.LINE:
            return "U" + token  # U + 32 hex digits
        case Channel.VIBER:
            return base64.b64encode(bytes.fromhex(token)).decode()  # 24 characters
        case _:
            return f"v_{i}"  # a web chat visitor id


def synthetic_contact(i: int, rng: random.Random) -> tuple[ContactDraft, str]:
    script = rng.random()
    if script < 0.45:
        first, last = rng.choice(LATIN_FIRST), rng.choice(LATIN_LAST)
    elif script < 0.75:
        first, last = rng.choice(ARABIC_FIRST), rng.choice(ARABIC_LAST)
    else:
        first, last = rng.choice(ACCENTED_FIRST), rng.choice(ACCENTED_LAST + LATIN_LAST)
    prefix, trunk, rest = rng.choice(COUNTRIES)
    # Unique per country (7919 is prime to 10) and spread over the digits.
    tail = str((i * 7919) % 10**rest).zfill(rest)
    phone = prefix + tail
    email = f"{ascii_fold(first)}.{ascii_fold(last)}{i}@example{i % 50}.com"
    identities: dict[Channel, str] = {}
    inbound: dict[Channel, datetime] = {}
    channel = rng.choice(
        [Channel.WHATSAPP] * 5
        + [
            Channel.TELEGRAM,
            Channel.MESSENGER,
            Channel.INSTAGRAM,
            Channel.VIBER,
            Channel.WECHAT,
            Channel.LINE,
            Channel.WEBCHAT,
        ]
    )
    identities[channel] = synthetic_identity(channel, i, phone)
    handles: dict[Channel, str] = {}
    if channel in (Channel.TELEGRAM, Channel.INSTAGRAM):
        # Telegram's from.username, Instagram's profile username.
        handles[channel] = f"{ascii_fold(first)}_{ascii_fold(last)}{i}"[:32]
    inbound[channel] = NOW - timedelta(seconds=rng.randrange(90 * 86400))
    open_ = rng.random() < 0.1
    draft = ContactDraft(
        first_name=first,
        last_name=last,
        email=email,
        phone=phone,
        identities=identities,
        handles=handles,
        status=ConversationStatus.OPEN if open_ else ConversationStatus.CLOSED,
        assignee=rng.choice(AGENTS) if open_ or rng.random() < 0.5 else None,
        last_inbound_at=inbound,
    )
    other_notation = rng.choice(["00", "spaced", "national"])
    digits = phone[1:]
    if other_notation == "00":
        notation = "00" + digits
    elif other_notation == "spaced":
        notation = f"+{digits[:3]} {digits[3:5]}-{digits[5:8]} {digits[8:]}"
    else:
        notation = trunk + tail
    return draft, notation


async def used_memory(redis: RedisClient) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


async def load(
    store: ContactStore, n: int, batch: int, seed: int
) -> list[tuple[ContactDraft, str]]:
    rng = random.Random(seed)
    samples: list[tuple[ContactDraft, str]] = []
    started = time.perf_counter()
    last_print = 0.0
    done = 0
    sem = asyncio.Semaphore(2)  # overlap building the next batch with Redis work

    async def write(drafts: list[ContactDraft]) -> None:
        async with sem:
            await store.create_many(drafts, NOW)

    pending: set[asyncio.Task[None]] = set()
    while done < n:
        size = min(batch, n - done)
        drafts = []
        for i in range(done, done + size):
            draft, notation = synthetic_contact(i, rng)
            drafts.append(draft)
            if rng.random() < 2000 / n:
                samples.append((draft, notation))
        task = asyncio.create_task(write(drafts))
        pending.add(task)
        task.add_done_callback(pending.discard)
        if len(pending) >= 2:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        done += size
        elapsed = time.perf_counter() - started
        if elapsed - last_print >= 2 or done == n:
            last_print = elapsed
            print(
                f"  loaded {done:>9,} / {n:,}  ({done / elapsed:,.0f} contacts/s)", file=sys.stderr
            )
    await asyncio.gather(*pending)
    return samples


def queries_for(
    samples: list[tuple[ContactDraft, str]], rng: random.Random, count: int
) -> dict[str, list[str]]:
    picks = [rng.choice(samples) for _ in range(count)]
    named = [s for s in samples if s[0].handles] or samples
    handled = [rng.choice(named)[0] for _ in range(count)]
    return {
        "first_name_prefix": [
            d.first_name[: rng.randint(3, max(3, len(d.first_name)))] for d, _ in picks
        ],
        "full_name": [f"{d.first_name} {d.last_name}" for d, _ in picks],
        "email": [d.email or "" for d, _ in picks],
        "phone_other_notation": [notation for _, notation in picks],
        "trailing_digits": [(d.phone or "")[-rng.randint(6, 8) :] for d, _ in picks],
        # A channel identity as typed (a WhatsApp number is found as a phone).
        "identity": [next(iter(d.identities.values())) for d, _ in picks],
        "username": [f"@{next(iter(d.handles.values()), 'nobody')}" for d in handled],
    }


async def run(args: argparse.Namespace) -> dict[str, object]:
    server: RedisServer | None = None
    url = os.environ.get("REDIS_URL") if args.use_redis_url else None
    tmp = tempfile.TemporaryDirectory(prefix="bench-search-")
    if url is None:
        server = RedisServer(data_dir=Path(tmp.name), appendonly=False).start()
        url = server.url
    redis = create_redis(url)
    try:
        keys = Keys(partitions=args.partitions, prefix=f"bench{os.getpid()}")
        await load_all(redis)
        store = ContactStore(redis, keys)
        before = await used_memory(redis)
        print(
            f"loading {args.contacts:,} contacts into {args.partitions} partitions", file=sys.stderr
        )
        samples = await load(store, args.contacts, args.batch, args.seed)
        after = await used_memory(redis)
        bytes_per_contact = (after - before) / args.contacts

        search = ContactSearch(store, default_region="AE")
        rng = random.Random(args.seed + 1)
        queries = queries_for(samples, rng, args.queries)
        warmup = queries_for(samples, random.Random(args.seed + 2), 20)
        # A serving process holds no million drafts: collect the loader's
        # garbage and keep the survivors out of later collections.
        gc.collect()
        gc.freeze()
        # Let Redis finish growing its hash tables: right after a bulk load it
        # rehashes incrementally (activerehashing), which a steady server doesn't.
        await asyncio.sleep(args.settle)
        # All inboxes, any status (the widest filter), most recent first.
        filters = SearchFilters(status=None)
        # Warm up connections, scripts and phonenumbers' per-region metadata.
        for texts in warmup.values():
            for text in texts:
                await search.search(text, filters)
        p50: dict[str, float] = {}
        p99: dict[str, float] = {}
        found: dict[str, float] = {}
        for field, texts in queries.items():
            timings = []
            hits = 0
            for text in texts:
                t0 = time.perf_counter()
                page = await search.search(text, filters)
                timings.append((time.perf_counter() - t0) * 1000)
                hits += bool(page.contacts)
            p50[field] = round(statistics.median(timings), 3)
            p99[field] = round(percentile(timings, 99), 3)
            found[field] = hits / len(texts)
        print(f"\n{'field':<22}{'p50 ms':>10}{'p99 ms':>10}{'found':>8}")
        for field in queries:
            print(f"{field:<22}{p50[field]:>10.3f}{p99[field]:>10.3f}{found[field]:>8.0%}")
        print(f"\nRedis memory: {bytes_per_contact:,.0f} bytes per contact (indexes included)")
        return {
            "bench": "search",
            "contacts": args.contacts,
            "p50_ms": p50,
            "p99_ms": p99,
            "bytes_per_contact": round(bytes_per_contact, 1),
        }
    finally:
        await redis.aclose()
        if server is not None:
            server.stop()
        tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500, help="searches per field type")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait after loading")
    parser.add_argument(
        "--use-redis-url", action="store_true", help="use REDIS_URL instead of a private server"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
