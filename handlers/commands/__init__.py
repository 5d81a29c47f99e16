"""Slack commands listeners; each module has `register(app, deps)`."""
