"""The Slack surface's fixtures (`tests.slack.conftest`): `serve`'s web app with a
fake Slack, driven with signed requests."""

from tests.slack.conftest import slack, surface

__all__ = ["slack", "surface"]
