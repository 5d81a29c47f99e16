"""Media files: the store, signed links, the /media route."""
