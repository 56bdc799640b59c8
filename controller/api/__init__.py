"""The REST API (``/api/v1``), media and stream URLs, ``/metrics``: one router per domain, with
their dependencies and error handlers. Imports ``services``, ``domain``, ``core``; never a web
page module (checked by tests/test_layers.py)."""
