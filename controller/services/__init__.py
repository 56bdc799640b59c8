"""What runs beside the web server: the runtime (scheduler, ingest), dispatch to nodes over
MQTT, alerts, stream hubs, live speech. Imports ``domain`` and ``core`` (checked by
tests/test_layers.py)."""
