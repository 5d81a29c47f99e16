"""The approved WhatsApp message templates, read from the Business Management API.

`GET {WHATSAPP_API_URL}/{WHATSAPP_BUSINESS_ACCOUNT_ID}/message_templates
?status=APPROVED&fields=name,language,category,status,parameter_format,components`,
following `paging.next` until the last page
(https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/).

Each template is read whole (`bot.domain.templates.parse_template`): its
header, body, footer and buttons with their examples, its category and
parameter format, each of its approved languages as its own entry; a template
with a part we cannot supply is kept and shown disabled with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.channels.meta import graph_error
from bot.config import Settings
from bot.domain.templates import parse_template
from bot.store.templates import WhatsAppTemplate

logger = logging.getLogger(__name__)

FIELDS = "name,language,category,status,parameter_format,components"
PAGE_LIMIT = 100
#: A runaway `paging.next` chain stops here (100 pages of 100 templates).
MAX_PAGES = 100


class TemplateFetchError(RuntimeError):
    """The Graph API did not give the template list (the old set stays)."""


@dataclass(frozen=True)
class FetchedTemplates:
    templates: list[WhatsAppTemplate]

    @property
    def named(self) -> int:
        """How many take named parameters."""
        return sum(1 for t in self.templates if t.parameter_names)


def parse_templates(page: dict[str, Any]) -> list[WhatsAppTemplate]:
    """One page's approved templates."""
    templates: list[WhatsAppTemplate] = []
    for item in page.get("data") or []:
        if not isinstance(item, dict) or item.get("status", "APPROVED") != "APPROVED":
            continue
        template = parse_template(item)
        if template is not None:
            templates.append(template)
    return templates


async def fetch_approved_templates(
    settings: Settings, http: aiohttp.ClientSession, *, request_seconds: float = 30.0
) -> FetchedTemplates:
    """Every approved template of the business account (all pages)."""
    token = settings.whatsapp_token
    account = settings.whatsapp_business_account_id
    if token is None or not account:
        raise TemplateFetchError("WHATSAPP_TOKEN and WHATSAPP_BUSINESS_ACCOUNT_ID are needed")
    url: str | None = f"{settings.whatsapp_api_url}/{account}/message_templates"
    params: dict[str, str] | None = {
        "status": "APPROVED",
        "fields": FIELDS,
        "limit": str(PAGE_LIMIT),
    }
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    found: list[WhatsAppTemplate] = []
    for _ in range(MAX_PAGES):
        if url is None:
            break
        try:
            async with http.get(
                url,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=request_seconds),
            ) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise TemplateFetchError(f"template list unavailable: {type(error).__name__}") from None
        if status != 200 or not isinstance(body, dict):
            refusal = graph_error(body)
            code = refusal.code if refusal is not None else None
            raise TemplateFetchError(f"template list refused: HTTP {status}, code {code}")
        found.extend(parse_templates(body))
        paging = body.get("paging") or {}
        url = paging.get("next") if isinstance(paging, dict) else None
        params = None  # `next` carries the query (cursor included)
    return FetchedTemplates(found)
