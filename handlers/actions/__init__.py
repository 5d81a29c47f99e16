"""Slack actions listeners; each module has `register(app, *, <the services it uses>)`."""
