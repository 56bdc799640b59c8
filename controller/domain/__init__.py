"""The commune's rules and their storage: who may do what, zones, nodes, announcements,
broadcasts, stream sources, provisioning, reports. Imports ``core``, ``schedules``, ``audio``,
``loa``; never FastAPI or Starlette (checked by tests/test_layers.py)."""
