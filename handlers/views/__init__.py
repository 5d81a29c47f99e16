"""Slack views listeners; each module has `register(app, deps)`."""
