"""Process-wide logging: text or JSON lines on stderr, with PII and secrets redacted.

Structured fields go in `extra={...}`; they are printed as `key=value` (text) or
as JSON members. Whatever is passed as `extra={"text": ...}` (message bodies) is
never printed, and phone numbers, e-mail addresses and Slack/bearer tokens are
masked wherever they appear.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

#: Attributes every LogRecord has; anything else on a record came from `extra`.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)

#: `extra` fields whose value is customer content or a credential: never printed.
SENSITIVE_FIELDS = frozenset(
    {"text", "body", "password", "secret", "token", "first_name", "last_name", "full_name"}
)

#: A log value longer than this is cut before it is redacted and printed: a log
#: line is no place for a whole request, and redaction stays cheap.
MAX_LOGGED_CHARS = 8192
#: Tracebacks are longer by nature; they are cut too.
MAX_TRACEBACK_CHARS = 65536

# Every pattern below is linear in its input: each may only start where the
# character before cannot belong to it (a look-behind on the same class), so a
# long run of word characters or digits is tried once, not from every position
# in it (`[\w.+%-]+@` alone took 7 s on 40k word characters without `@`).

# A phone number: 7 or more digits, optionally led by "+" and split by single
# spaces, dashes or parentheses. Numbers with a decimal point (Slack message
# timestamps such as 1712345678.123456, durations) are left alone. A bounded
# look-ahead checks the seven digits; then runs of digits are matched whole
# (`\d+` is fast, a group per digit is not).
_PHONE = re.compile(
    r"(?<![\w+.])\+?\(?(?=\d(?:[ \-()]{0,2}\d){6})\d+(?:[ \-()]{1,2}\d+)*(?:\.\d+)?(?![\w])"
)
# The same, URL- or form-encoded as in a Slack command's body: "%2B971+50+123+4567".
_URL_PHONE = re.compile(
    r"(?<![\w%.])(?:%2[bB])?(?:%28)?(?=\d(?:(?:[+\-]|%2[0dD89]){0,2}\d){6})"
    r"\d[\d+\-]*(?:%2[0dD89][\d+\-]*)*(?!\w|\.\d)"
)
_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
# URL-encoded: "layla.h%40example.com" (a local part may carry %XX escapes too).
_URL_EMAIL = re.compile(r"(?<![\w.+%-])(?:[\w.+-]|%[0-9A-Fa-f]{2})+?%40[\w-]+(?:\.[\w-]+)+")
_TOKENS = re.compile(
    r"\bxox[a-z]-[A-Za-z0-9-]+|\bxapp-[A-Za-z0-9-]+|\b(?i:bearer)\s+[A-Za-z0-9._~+/=-]+"
)
_DIGIT = re.compile(r"\d")


def _mask_phone(match: re.Match[str]) -> str:
    return match.group(0) if "." in match.group(0) else "[phone]"


def redact(value: str, *, limit: int | None = MAX_LOGGED_CHARS) -> str:
    """`value` (cut to `limit` characters) with tokens, e-mail addresses and phones masked.

    Linear in the length of `value`, whatever it holds; a pattern whose anchor
    character is absent is not run at all.
    """
    if limit is not None and len(value) > limit:
        value = f"{value[:limit]}…[{len(value) - limit} more characters]"
    if "xox" in value or "xapp-" in value or "earer" in value.lower():
        value = _TOKENS.sub("[token]", value)
    if "%40" in value:
        value = _URL_EMAIL.sub("[email]", value)
    if "@" in value:
        value = _EMAIL.sub("[email]", value)
    if _DIGIT.search(value) is None:
        return value
    value = _PHONE.sub(_mask_phone, value)
    if "%" in value or "+" in value:
        value = _URL_PHONE.sub("[phone]", value)
    return value


#: Loggers of slack-bolt: some of its lines carry a whole request body (a refused
#: request's, an unhandled one's), which no log line may.
BOLT_LOGGER_PREFIX = "slack_bolt"


def without_request_body(message: str) -> str:
    """`message` cut where a request body would start ("body: …" or a dict's repr)."""
    cuts = [at for at in (message.find("body: "), message.find("{")) if at >= 0]
    return f"{message[: min(cuts)]}[request body not logged]" if cuts else message


class RedactionFilter(logging.Filter):
    """Masks PII and secrets in a record's message, exception text and `extra` fields.

    Attach it to handlers (handler filters see records from every logger).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.name.startswith(BOLT_LOGGER_PREFIX):
            message = without_request_body(message)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, limit=MAX_TRACEBACK_CHARS)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, limit=MAX_TRACEBACK_CHARS)
        for key, value in list(vars(record).items()):
            if key in _RECORD_ATTRS:
                continue
            if key in SENSITIVE_FIELDS and value is not None:
                setattr(record, key, "[redacted]")
            elif isinstance(value, str):
                setattr(record, key, redact(value))
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra={...}` fields of a record."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS}


class TextFormatter(logging.Formatter):
    """`2026-11-24T12:00:00.123Z INFO bot.relay: sent channel=whatsapp status=sent`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso_time(record.created)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = extra_fields(record)
        if not fields:
            return line
        head, sep, tail = line.partition("\n")
        suffix = " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        return f"{head} {suffix}{sep}{tail}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, msg, the `extra` fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(extra_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


def _iso_time(created: float) -> str:
    return (
        datetime.fromtimestamp(created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _text_value(value: object) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text


#: The loggers slack-sdk's Web API and Socket Mode clients use unless given one.
SLACK_SDK_LOGGERS = ("slack_sdk.web.async_base_client", "slack_sdk.socket_mode.aiohttp")


def configure_logging(level: str = "INFO", fmt: Literal["text", "json"] = "text") -> None:
    """Replace the root logger's handlers with one redacting stderr handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactionFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiohttp's access log repeats every request; /metrics counts them instead.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # slack-sdk decides whether to build its debug lines by `logger.level <=
    # DEBUG`, not `isEnabledFor()`: a logger of its left at NOTSET (0) renders
    # every Web API request (a whole modal) into a string that is then dropped.
    for name in SLACK_SDK_LOGGERS:
        logging.getLogger(name).setLevel(level)
