"""Slack shortcuts listeners; each module has `register(app, deps)`."""
