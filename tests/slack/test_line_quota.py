"""The composer shows LINE's remaining monthly pushes (issue 9, point 3), read from
LINE's quota API and cached a minute, never on the send path."""

from __future__ import annotations

from typing import Any

from bot.domain.channels import Channel
from bot.domain.reachability import LineQuota
from bot.services.line_quota import LineQuotaReader
from tests.conftest import NOW, StoreEnv
from tests.fakes.line import FakeLine
from tests.fakes.slack import FakeSlack
from tests.slack.compose_steps import open_composer, texts
from tests.slack.conftest import running_surface

LINE_USER = "U" + "4af4980629" * 3 + "ab"


def shown(view: dict[str, Any]) -> str:
    return texts(view["blocks"])


async def test_the_composer_shows_lines_pushes_left_this_month(
    redis_url: str, slack: FakeSlack
) -> None:
    async with (
        FakeLine(quota_limit=1000, quota_used=250) as line,
        running_surface(
            redis_url,
            slack,
            line_api_url=line.url,
            line_channel_access_token=FakeLine.access_token,
            line_channel_secret="line-secret",
        ) as surface,
    ):
        cid = await surface.contact("Sara", "Ahmed", identities={Channel.LINE: LINE_USER})
        view = await open_composer(surface, cid)
        assert "LINE: 750 of 1000 pushes left this month" in shown(view)
        line.quota_used = 999
        await open_composer(surface, cid)  # read again within the minute: cached
        quota_reads = [r for r in line.requests if r.path == "/v2/bot/message/quota"]
        assert len(quota_reads) == 1
        assert line.pushes == []


async def test_a_read_with_room_forgets_a_learned_monthly_limit(env: StoreEnv) -> None:
    await env.outbox.learn_line_month_spent(NOW)

    async def fetch() -> LineQuota:
        return LineQuota(1000, 10)

    reader = LineQuotaReader(env.outbox, fetch)
    assert await reader() == LineQuota(1000, 10)
    assert not await env.outbox.line_month_spent(NOW)
