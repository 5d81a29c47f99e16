"""The one settings object, read once from the environment (and an optional `.env`).

Variable names are the contract in SPEC.md ("Configuration and endpoints"):
each field's environment variable is its name upper-cased. Build settings with
`load_settings()` in the entry point and pass them down; nothing else reads
`os.environ`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import phonenumbers
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

GRAPH_API_URL = "https://graph.facebook.com/v21.0"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["text", "json"]
Language = Literal["en", "ar"]


class ConfigError(Exception):
    """Settings could not be read; the message names each bad variable and why.

    The entry point prints `str(error)` to stderr and exits with `exit_code`.
    Messages never contain the offending value, so secrets cannot leak.
    """

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("Invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))


def _split_list(value: object) -> object:
    """`"A, B,,C"` → `("A", "B", "C")`; `""` → `()`; tuples and lists pass through."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _http_base_url(value: str) -> str:
    """An absolute http(s) URL, without a trailing slash (callers append `/path`)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value.strip().rstrip("/")


def _slack_api_url(value: str) -> str:
    # slack_sdk joins method names onto its base_url, which must end with "/".
    return _http_base_url(value) + "/"


def _redis_url(value: str) -> str:
    value = value.strip()
    if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return value


def _media_store_url(value: str) -> str:
    """`file:///abs/dir` (or `file://rel/dir`) or `s3://bucket[/prefix]`."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError("must name a bucket: s3://bucket/prefix")
        return value.rstrip("/")
    if parts.scheme == "file":
        if not (parts.netloc or parts.path):
            raise ValueError("must name a directory: file:///path/to/media")
        return value
    raise ValueError("must start with file:// or s3://")


def _phone_region(value: str) -> str:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not a region code phonenumbers knows (ISO 3166, e.g. AE)")
    return value


def _slack_app_token(value: SecretStr) -> SecretStr:
    # A bot token pasted here is the usual mistake; Socket Mode needs an app-level token.
    if not value.get_secret_value().startswith("xapp-"):
        raise ValueError("must be an app-level token (starts with xapp-)")
    return value


_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _telegram_webhook_secret(value: SecretStr) -> SecretStr:
    # https://core.telegram.org/bots/api#setwebhook: 1-256 characters A-Z, a-z, 0-9, _ and -.
    if not _TELEGRAM_SECRET.fullmatch(value.get_secret_value()):
        raise ValueError("must be 1-256 characters from A-Z, a-z, 0-9, _ and -")
    return value


StrList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_list)]
HttpBaseUrl = Annotated[str, AfterValidator(_http_base_url)]


class Settings(BaseSettings):
    """Typed configuration; field `x_y` is read from the environment variable `X_Y`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        # An empty variable (`FOO=`) means "unset": the default applies.
        env_ignore_empty=True,
        # A shared .env may hold variables that are not ours.
        extra="ignore",
        frozen=True,
    )

    # --- state store and process ----------------------------------------
    # May embed a password: kept out of repr().
    redis_url: Annotated[str, AfterValidator(_redis_url)] | None = Field(default=None, repr=False)
    redis_cluster: bool = False
    data_dir: Path = Path("./data")
    port: int = Field(default=3000, ge=1, le=65535)
    partitions: int = Field(default=4, ge=1, le=1024)
    # Namespace of every key, so deployments (or test runs) can share a Redis.
    redis_key_prefix: str = Field(default="fu", pattern=r"^[a-z0-9_-]{1,16}$")
    relay_in_process: bool = True
    # A pending outbox entry idle this long belongs to a dead worker and is taken over.
    relay_claim_idle_seconds: float = Field(default=60.0, gt=0)
    #: How long a process holds a due scheduled item before another may take
    #: it again (it died): the longest a scheduled message waits after a crash.
    schedule_lease_seconds: float = Field(default=60.0, gt=0)
    log_level: Annotated[LogLevel, BeforeValidator(_upper)] = "INFO"
    log_format: Annotated[LogFormat, BeforeValidator(_lower)] = "text"

    # --- Slack -------------------------------------------------------------
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: Annotated[SecretStr, AfterValidator(_slack_app_token)] | None = None
    slack_api_url: Annotated[str, AfterValidator(_slack_api_url)] = "https://slack.com/api/"
    support_channel: str | None = None
    close_unassigns: bool = False
    public_base_url: HttpBaseUrl | None = None
    default_phone_region: (
        Annotated[str, BeforeValidator(_upper), AfterValidator(_phone_region)] | None
    ) = None
    default_language: Annotated[Language, BeforeValidator(_lower)] = "en"
    agents: StrList = ()
    managers: StrList = ()
    window_alert_minutes: int = Field(default=60, ge=1)

    # --- WhatsApp, Messenger, Instagram (Meta Graph API) ------------------
    whatsapp_api_url: HttpBaseUrl = GRAPH_API_URL
    whatsapp_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_business_account_id: str | None = None
    messenger_api_url: HttpBaseUrl = GRAPH_API_URL
    messenger_page_token: SecretStr | None = None
    messenger_tags: StrList = ()
    instagram_api_url: HttpBaseUrl = GRAPH_API_URL
    instagram_token: SecretStr | None = None
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None

    # --- Telegram, LINE, Viber, WeChat ------------------------------------
    telegram_api_url: HttpBaseUrl = "https://api.telegram.org"
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: (
        Annotated[SecretStr, AfterValidator(_telegram_webhook_secret)] | None
    ) = None
    line_api_url: HttpBaseUrl = "https://api.line.me"
    line_channel_access_token: SecretStr | None = None
    line_channel_secret: SecretStr | None = None
    viber_api_url: HttpBaseUrl = "https://chatapi.viber.com/pa"
    viber_auth_token: SecretStr | None = None
    viber_commercial_terms: bool = False
    viber_monthly_free: int = Field(default=10000, ge=0)
    wechat_api_url: HttpBaseUrl = "https://api.weixin.qq.com"
    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_token: SecretStr | None = None
    wechat_window_messages: int = Field(default=20, ge=0)

    # --- SMS (Twilio REST shape), e-mail, website chat ----------------------
    sms_api_url: HttpBaseUrl = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    sms_from: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    email_from: str | None = None
    webchat_webhook_url: HttpBaseUrl | None = None
    webchat_secret: SecretStr | None = None
    # Inbound e-mail webhook HMAC key; unset: signed with WEBCHAT_SECRET ("signed the same way").
    email_webhook_secret: SecretStr | None = None

    # --- media (issue 12): files in and out --------------------------------
    # Unset: a directory `media` under DATA_DIR.
    media_store_url: Annotated[str, AfterValidator(_media_store_url)] | None = None
    # Unset: each channel's own limits (bot/domain/media.py) are the only bound.
    media_max_bytes: int | None = Field(default=None, ge=1)
    media_link_hours: float = Field(default=24.0, gt=0)
    # Stored files older than this are removed (WeChat keeps temporary media 3 days).
    media_retention_hours: float = Field(default=72.0, gt=0)
    # Key of the /media/{token} links; unset: derived from SLACK_SIGNING_SECRET.
    media_secret: SecretStr | None = None
    # The S3-compatible store (MEDIA_STORE_URL=s3://…); unset: botocore's own chain.
    aws_access_key_id: str | None = Field(default=None, repr=False)
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    aws_region: str | None = None
    # A MinIO or other S3-compatible server; unset: AWS.
    aws_endpoint_url: HttpBaseUrl | None = None

    @model_validator(mode="after")
    def _links_outlive_nothing(self) -> Settings:
        if self.media_retention_hours < self.media_link_hours:
            # A link would outlive its file: the channel would fetch a 404.
            raise ValueError("MEDIA_RETENTION_HOURS must be at least MEDIA_LINK_HOURS")
        return self

    @property
    def media_store(self) -> str:
        """Where media files live: MEDIA_STORE_URL, else a directory under DATA_DIR."""
        if self.media_store_url is not None:
            return self.media_store_url
        return (self.data_dir / "media").resolve().as_uri()

    @classmethod
    def env_names(cls) -> tuple[str, ...]:
        """Every environment variable these settings read."""
        return tuple(name.upper() for name in cls.model_fields)


def _describe(error: dict[str, Any]) -> str:
    """One line per problem: the variable's env name and pydantic's reason, never the input."""
    loc = error.get("loc") or ()
    field = str(loc[0]) if loc else ""
    name = field.upper() if field in Settings.model_fields else field or "settings"
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    return f"{name}: {message}"


def load_settings(env_file: str | None = ".env") -> Settings:
    """Read settings from the environment and `env_file` (environment wins); `None` skips the file.

    Raises `ConfigError` naming every bad variable.
    """
    try:
        return Settings(_env_file=env_file)
    except ValidationError as error:
        problems = [
            _describe(dict(e)) for e in error.errors(include_input=False, include_url=False)
        ]
    # Raised outside the except block so the ValidationError (which holds the
    # input values, secrets included) is not kept as __context__.
    raise ConfigError(problems)
