"""The controller: REST API and web UI, the database of record, scheduling and dispatch to nodes."""
