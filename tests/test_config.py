"""Settings: every variable of the SPEC's configuration table, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings

SECRET = "xoxb-1111-2222-topsecretvalue"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable leaks in from the machine, and no stray .env is read."""
    for name in Settings.env_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


EVERY_VARIABLE = {
    "REDIS_URL": "redis://127.0.0.1:6380/0",
    "REDIS_CLUSTER": "true",
    "DATA_DIR": "/var/lib/followup",
    "PORT": "8080",
    "SLACK_BOT_TOKEN": "xoxb-bot",
    "SLACK_SIGNING_SECRET": "signing",
    "SLACK_APP_TOKEN": "xapp-1-app",
    "SLACK_API_URL": "http://127.0.0.1:9000/api",
    "SUPPORT_CHANNEL": "C0SUPPORT",
    "CLOSE_UNASSIGNS": "true",
    "PUBLIC_BASE_URL": "https://followup.example.com/",
    "DEFAULT_PHONE_REGION": "ae",
    "DEFAULT_LANGUAGE": "ar",
    "WHATSAPP_API_URL": "http://127.0.0.1:9001/v21.0/",
    "WHATSAPP_TOKEN": "wa-token",
    "WHATSAPP_PHONE_NUMBER_ID": "1234567890",
    "MESSENGER_API_URL": "http://127.0.0.1:9002",
    "MESSENGER_PAGE_TOKEN": "page-token",
    "MESSENGER_TAGS": "HUMAN_AGENT, CUSTOMER_FEEDBACK",
    "INSTAGRAM_API_URL": "http://127.0.0.1:9003",
    "INSTAGRAM_TOKEN": "ig-token",
    "META_APP_SECRET": "meta-secret",
    "META_VERIFY_TOKEN": "verify-me",
    "TELEGRAM_API_URL": "http://127.0.0.1:9004",
    "TELEGRAM_BOT_TOKEN": "123:abc",
    "TELEGRAM_WEBHOOK_SECRET": "tg_secret-1",
    "LINE_API_URL": "http://127.0.0.1:9005",
    "LINE_CHANNEL_ACCESS_TOKEN": "line-token",
    "LINE_CHANNEL_SECRET": "line-secret",
    "VIBER_API_URL": "http://127.0.0.1:9006/pa",
    "VIBER_AUTH_TOKEN": "viber-token",
    "VIBER_COMMERCIAL_TERMS": "true",
    "WECHAT_API_URL": "http://127.0.0.1:9007",
    "WECHAT_APP_ID": "wx123",
    "WECHAT_APP_SECRET": "wx-secret",
    "WECHAT_TOKEN": "wx-token",
    "SMS_API_URL": "http://127.0.0.1:9008",
    "TWILIO_ACCOUNT_SID": "AC123",
    "TWILIO_AUTH_TOKEN": "twilio-token",
    "SMS_FROM": "+15550001111",
    "SMTP_HOST": "smtp.example.com",
    "SMTP_PORT": "2525",
    "SMTP_USERNAME": "mailer",
    "SMTP_PASSWORD": "mail-password",
    "SMTP_STARTTLS": "false",
    "EMAIL_FROM": "support@example.com",
    "WEBCHAT_WEBHOOK_URL": "http://127.0.0.1:9009/outbound",
    "WEBCHAT_SECRET": "webchat-secret",
    "EMAIL_WEBHOOK_SECRET": "email-secret",
    "WHATSAPP_BUSINESS_ACCOUNT_ID": "waba-1",
    "WECHAT_WINDOW_MESSAGES": "5",
    "VIBER_MONTHLY_FREE": "100",
    "AGENTS": "U1,U2,S3",
    "MANAGERS": "U9",
    "RELAY_IN_PROCESS": "false",
    "LOG_LEVEL": "debug",
    "LOG_FORMAT": "JSON",
    "PARTITIONS": "64",
    "WINDOW_ALERT_MINUTES": "30",
    "REDIS_KEY_PREFIX": "fu2",
    "RELAY_CLAIM_IDLE_SECONDS": "30",
    "SCHEDULE_LEASE_SECONDS": "45",
    "MEDIA_STORE_URL": "s3://media-bucket/followup/",
    "MEDIA_MAX_BYTES": "10485760",
    "MEDIA_LINK_HOURS": "12",
    "MEDIA_RETENTION_HOURS": "48",
    "MEDIA_SECRET": "media-secret",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "AWS_SESSION_TOKEN": "aws-session",
    "AWS_REGION": "eu-west-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9010",
}


def test_every_variable_of_the_contract_is_a_setting() -> None:
    assert set(EVERY_VARIABLE) == set(Settings.env_names())


def test_settings_read_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EVERY_VARIABLE.items():
        monkeypatch.setenv(name, value)

    s = load_settings(env_file=None)

    assert s.redis_url == "redis://127.0.0.1:6380/0"
    assert s.redis_cluster is True
    assert s.data_dir == Path("/var/lib/followup")
    assert s.port == 8080
    assert s.slack_bot_token is not None
    assert s.slack_bot_token.get_secret_value() == "xoxb-bot"
    assert s.slack_signing_secret is not None
    assert s.slack_signing_secret.get_secret_value() == "signing"
    assert s.slack_app_token is not None
    assert s.slack_app_token.get_secret_value() == "xapp-1-app"
    assert s.slack_api_url == "http://127.0.0.1:9000/api/"
    assert s.support_channel == "C0SUPPORT"
    assert s.close_unassigns is True
    assert s.public_base_url == "https://followup.example.com"
    assert s.default_phone_region == "AE"
    assert s.default_language == "ar"
    assert s.whatsapp_api_url == "http://127.0.0.1:9001/v21.0"
    assert s.whatsapp_phone_number_id == "1234567890"
    assert s.messenger_api_url == "http://127.0.0.1:9002"
    assert s.messenger_tags == ("HUMAN_AGENT", "CUSTOMER_FEEDBACK")
    assert s.instagram_api_url == "http://127.0.0.1:9003"
    assert s.telegram_api_url == "http://127.0.0.1:9004"
    assert s.telegram_webhook_secret is not None
    assert s.telegram_webhook_secret.get_secret_value() == "tg_secret-1"
    assert s.line_api_url == "http://127.0.0.1:9005"
    assert s.viber_api_url == "http://127.0.0.1:9006/pa"
    assert s.viber_commercial_terms is True
    assert s.wechat_api_url == "http://127.0.0.1:9007"
    assert s.wechat_app_id == "wx123"
    assert s.sms_api_url == "http://127.0.0.1:9008"
    assert s.twilio_account_sid == "AC123"
    assert s.sms_from == "+15550001111"
    assert s.smtp_host == "smtp.example.com"
    assert s.smtp_port == 2525
    assert s.smtp_username == "mailer"
    assert s.smtp_starttls is False
    assert s.email_from == "support@example.com"
    assert s.webchat_webhook_url == "http://127.0.0.1:9009/outbound"
    assert s.whatsapp_business_account_id == "waba-1"
    assert s.wechat_window_messages == 5
    assert s.viber_monthly_free == 100
    assert s.agents == ("U1", "U2", "S3")
    assert s.managers == ("U9",)
    assert s.relay_in_process is False
    assert s.schedule_lease_seconds == 45
    assert s.media_store == s.media_store_url == "s3://media-bucket/followup"
    assert (s.media_max_bytes, s.media_link_hours, s.media_retention_hours) == (10485760, 12, 48)
    assert s.media_secret is not None and s.media_secret.get_secret_value() == "media-secret"
    assert s.aws_endpoint_url == "http://127.0.0.1:9010" and s.aws_region == "eu-west-1"
    assert s.log_level == "DEBUG"
    assert s.log_format == "json"
    assert s.partitions == 64
    assert s.window_alert_minutes == 30
    secrets = {
        "whatsapp_token": "wa-token",
        "messenger_page_token": "page-token",
        "instagram_token": "ig-token",
        "meta_app_secret": "meta-secret",
        "meta_verify_token": "verify-me",
        "telegram_bot_token": "123:abc",
        "line_channel_access_token": "line-token",
        "line_channel_secret": "line-secret",
        "viber_auth_token": "viber-token",
        "wechat_app_secret": "wx-secret",
        "wechat_token": "wx-token",
        "twilio_auth_token": "twilio-token",
        "smtp_password": "mail-password",
        "webchat_secret": "webchat-secret",
        "email_webhook_secret": "email-secret",
    }
    for field, value in secrets.items():
        secret = getattr(s, field)
        assert secret.get_secret_value() == value, field
        assert value not in repr(s), field


def test_defaults_follow_the_spec() -> None:
    s = load_settings(env_file=None)

    assert s.redis_url is None
    assert s.redis_cluster is False
    assert s.data_dir == Path("data")
    assert s.port == 3000
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.close_unassigns is False
    assert s.public_base_url is None
    assert s.default_phone_region is None
    assert s.default_language == "en"
    graph = "https://graph.facebook.com/v21.0"
    assert (s.whatsapp_api_url, s.messenger_api_url, s.instagram_api_url) == (graph,) * 3
    assert s.messenger_tags == ()
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.line_api_url == "https://api.line.me"
    assert s.viber_api_url == "https://chatapi.viber.com/pa"
    assert s.viber_commercial_terms is False
    assert s.wechat_api_url == "https://api.weixin.qq.com"
    assert s.sms_api_url == "https://api.twilio.com"
    assert s.wechat_window_messages == 20
    assert s.viber_monthly_free == 10000
    assert s.agents == () and s.managers == ()
    assert s.relay_in_process is True
    assert (s.log_level, s.log_format) == ("INFO", "text")
    assert s.partitions == 4
    assert s.window_alert_minutes == 60
    assert s.slack_bot_token is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A,B", ("A", "B")),
        (" U1 , U2 ,, S3 ", ("U1", "U2", "S3")),
        ("U1", ("U1",)),
        ("", ()),
        (",", ()),
    ],
    ids=["plain", "spaces-and-empties", "one", "empty", "only-commas"],
)
def test_comma_separated_lists_parse(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[str, ...]
) -> None:
    for name in ("AGENTS", "MANAGERS", "MESSENGER_TAGS"):
        monkeypatch.setenv(name, value)

    s = load_settings(env_file=None)

    assert s.agents == s.managers == s.messenger_tags == expected


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("PORT", "abc", "valid integer"),
        ("PORT", "70000", "less than or equal to 65535"),
        ("REDIS_CLUSTER", "maybe", "valid boolean"),
        ("DEFAULT_PHONE_REGION", "XX", "region code"),
        ("DEFAULT_LANGUAGE", "fr", "'en' or 'ar'"),
        ("LOG_FORMAT", "xml", "'text' or 'json'"),
        ("LOG_LEVEL", "loud", "'DEBUG'"),
        ("PARTITIONS", "0", "greater than or equal to 1"),
        ("PARTITIONS", "1025", "less than or equal to 1024"),
        ("REDIS_URL", "http://localhost:6379", "redis://, rediss:// or unix://"),
        ("TELEGRAM_API_URL", "api.telegram.org", "http:// or https://"),
        ("VIBER_MONTHLY_FREE", "-1", "greater than or equal to 0"),
    ],
    ids=lambda v: str(v),
)
def test_malformed_variable_is_named_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)

    message = str(caught.value)
    assert f"{name}: " in message
    assert reason in message
    assert caught.value.exit_code == 2


def test_every_bad_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "abc")
    monkeypatch.setenv("DEFAULT_LANGUAGE", "fr")

    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)

    assert [p.split(":")[0] for p in caught.value.problems] == ["PORT", "DEFAULT_LANGUAGE"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SLACK_APP_TOKEN", SECRET),  # a bot token where an app-level token belongs
        ("TELEGRAM_WEBHOOK_SECRET", "not allowed: " + SECRET),
    ],
    ids=["slack-app-token", "telegram-webhook-secret"],
)
def test_a_rejected_secret_is_never_echoed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLACK_BOT_TOKEN", SECRET)
    monkeypatch.setenv("PORT", "abc")

    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)

    assert f"{name}: " in str(caught.value)
    assert "topsecretvalue" not in str(caught.value)
    assert "topsecretvalue" not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert "topsecretvalue" not in capsys.readouterr().err


def test_dotenv_file_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("PORT=4000\nSUPPORT_CHANNEL=C0FROMFILE\nSOMETHING_ELSE=ignored\n")
    monkeypatch.setenv("PORT", "5000")

    s = load_settings(env_file=str(env_file))

    assert s.port == 5000
    assert s.support_channel == "C0FROMFILE"


def test_dotenv_in_the_working_directory_is_read_by_default(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DEFAULT_LANGUAGE=ar\n")

    assert load_settings().default_language == "ar"
    assert load_settings(env_file=None).default_language == "en"


def test_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "")

    s = load_settings(env_file=None)

    assert s.port == 3000
    assert s.slack_bot_token is None


def test_a_password_in_redis_url_stays_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "rediss://default:hunter2pass@redis.example.com:6380/0")

    s = load_settings(env_file=None)

    assert s.redis_url is not None and "hunter2pass" in s.redis_url
    assert "hunter2pass" not in repr(s) and "hunter2pass" not in str(s)


def test_media_defaults_to_a_directory_under_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", "/var/lib/followup")
    s = load_settings(env_file=None)
    assert s.media_store == "file:///var/lib/followup/media"
    assert (s.media_max_bytes, s.media_link_hours, s.media_retention_hours) == (None, 24, 72)


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        (
            {"MEDIA_STORE_URL": "ftp://host/dir"},
            "MEDIA_STORE_URL: must start with file:// or s3://",
        ),
        ({"MEDIA_STORE_URL": "s3:///prefix"}, "MEDIA_STORE_URL: must name a bucket"),
        ({"MEDIA_MAX_BYTES": "0"}, "MEDIA_MAX_BYTES"),
        (
            {"MEDIA_LINK_HOURS": "48", "MEDIA_RETENTION_HOURS": "24"},
            "MEDIA_RETENTION_HOURS must be at least MEDIA_LINK_HOURS",
        ),
    ],
    ids=["scheme", "bucket", "max-bytes", "retention-shorter-than-links"],
)
def test_bad_media_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], problem: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings(env_file=None)
    assert problem in str(raised.value)
