"""Slack actions listeners; each module has `register(app, deps)`."""
