"""The server: ingest routes, operations, access control, the panel-serve app and its start-up
checks, viewer login."""
