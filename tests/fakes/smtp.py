"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it is sent.

Can be told to refuse the next recipients (`refuse_next_rcpt("550 …")`) or
message data, and to require a login.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Delivery:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=default_policy).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RecordingHandler:
    deliveries: list[Delivery] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        content = envelope.original_content or envelope.content or b""
        assert isinstance(content, bytes)
        self.deliveries.append(Delivery(str(envelope.mail_from), tuple(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FakeSmtp:
    """An SMTP server in its own thread; `login` makes AUTH LOGIN/PLAIN required.

    `with FakeSmtp() as smtp:`, or `start()` … `stop()`.
    """

    def __init__(self, *, login: tuple[str, str] | None = None) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self._login = login
        kwargs: dict[str, Any] = {}
        if login is not None:
            kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=False
            )
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def deliveries(self) -> list[Delivery]:
        return self.handler.deliveries

    def refuse_next_rcpt(self, reply: str) -> None:
        self.handler.rcpt_replies.append(reply)

    def refuse_next_data(self, reply: str) -> None:
        self.handler.data_replies.append(reply)

    def start(self) -> FakeSmtp:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> FakeSmtp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self._login is not None
            and (data.login.decode(), data.password.decode()) == self._login
        )
        return AuthResult(success=ok, handled=False)
