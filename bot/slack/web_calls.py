"""What the worker's Slack senders share (thread poster, alert sender).

* One active sender across replicas: a lease its holder renews
  (`bot.store.locks.hold_lock`).
* Web API calls within a rate: a 429 (with its `Retry-After`), a 5xx or an
  unreachable Slack become `SlackUnavailable` with how long to pause, so the
  queue keeps the entry and tries again later
  (https://api.slack.com/docs/rate-limits).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.base import RateLimiter, retry_after_seconds

logger = logging.getLogger(__name__)

#: Errors that mean the app itself is misconfigured, not one entry.
SETUP_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "missing_scope",
    }
)


def slack_error(error: SlackApiError) -> str:
    """Slack's error code in a refused call's answer ("" when the answer is not
    Slack's JSON, e.g. a gateway's text page on a 503)."""
    data = error.response.data
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def slack_away(error: SlackApiError) -> bool:
    """Slack is busy or away (429 or a 5xx): try again later, nothing is wrong with
    the call itself."""
    status = int(error.response.status_code)
    return status == 429 or status >= 500


def retry_after(error: SlackApiError, default: float) -> float:
    """How long Slack asked to wait (`Retry-After`), else `default`."""
    asked = retry_after_seconds((error.response.headers or {}).get("Retry-After"))
    return default if asked is None else asked


class SlackUnavailable(RuntimeError):
    """Slack did not take the call; the entry stays queued."""

    def __init__(self, pause: float) -> None:
        super().__init__(pause)
        self.pause = pause


class SlackCalls:
    """Web API calls for a queue: failures become pauses, growing while Slack is away."""

    def __init__(self, slack: AsyncWebClient, max_pause: float) -> None:
        self.slack = slack
        self.max_pause = max_pause
        self._failures = 0

    async def call(self, method: str, limiter: RateLimiter | None, **args: Any) -> Any:
        """One Web API call (JSON); raises SlackUnavailable or SlackApiError."""
        if limiter is not None:
            await limiter.acquire()
        try:
            response = await self.slack.api_call(method, json=args)
        except SlackApiError as error:
            status = error.response.status_code
            if status == 429:
                wait = retry_after(error, 1.0)
                logger.warning("slack rate limited", extra={"method": method, "retry_after": wait})
                raise SlackUnavailable(wait) from None
            if status >= 500:
                raise SlackUnavailable(self._backoff()) from None
            raise
        except (OSError, TimeoutError, aiohttp.ClientError) as error:
            logger.warning(
                "slack unreachable", extra={"method": method, "error": type(error).__name__}
            )
            raise SlackUnavailable(self._backoff()) from None
        self._failures = 0
        return response

    def _backoff(self) -> float:
        self._failures += 1
        return float(min(self.max_pause, 2 ** min(self._failures, 6)))
