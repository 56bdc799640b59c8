"""The controller's ground floor: database, settings, errors and their messages, secrets,
logging, the broker's files, metric definitions. Imports only ``core``, ``loa`` and
``controller.i18n`` (checked by tests/test_layers.py)."""
