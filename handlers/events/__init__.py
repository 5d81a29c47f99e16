"""Slack events listeners; each module has `register(app, deps)`."""
