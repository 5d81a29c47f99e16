"""A channel without a window is decided once per kind of message (`TimelessModes`),
exactly as `decide_at_send` decides each message."""

from __future__ import annotations

import itertools

import pytest

from bot.domain.channels import Channel
from bot.domain.messages import Content, Form, OutboundMessage, SendMode
from bot.domain.windows import PolicySettings, WindowInput, decide_at_send, timeless_decision
from bot.relay.relay import _NO_CLOCK, TimelessModes, _refusal

TIMELESS = [channel for channel in Channel if timeless_decision(channel) is not None]


def test_some_channels_have_no_window() -> None:
    assert Channel.TELEGRAM in TIMELESS and Channel.WHATSAPP not in TIMELESS


@pytest.mark.parametrize("channel", TIMELESS, ids=lambda c: c.value)
def test_each_kind_of_message_is_decided_as_decide_at_send_decides_it(channel: Channel) -> None:
    policy = PolicySettings()
    modes = TimelessModes(channel, policy)
    for mode, form, tag in itertools.product(SendMode, Form, (None, "HUMAN_AGENT")):
        message = OutboundMessage("m1", "0-a", channel, mode, form, "U_A", Content("hi", tag=tag))
        try:
            decided = decide_at_send(channel, mode, form, tag, WindowInput(), _NO_CLOCK, policy)
        except ValueError:  # a kind no message can be: refused each time, nothing remembered
            for _ in range(2):
                with pytest.raises(ValueError):
                    modes(message)
            continue
        expected = (decided.mode, _refusal(decided))
        assert modes(message) == expected, (mode, form, tag)
        assert modes(message) == expected  # and again, remembered


def test_what_it_remembers_stays_bounded() -> None:
    modes = TimelessModes(Channel.TELEGRAM, PolicySettings())
    for n in range(1000):  # a tag is an agent's word: there may be many
        message = OutboundMessage(
            "m1",
            "0-a",
            Channel.TELEGRAM,
            SendMode.FREE,
            Form.TEXT,
            "U_A",
            Content("hi", tag=f"t{n}"),
        )
        modes(message)
    assert len(modes._decided) <= 256
