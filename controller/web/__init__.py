"""The officials' web pages, one module per area, and what they share (``common``). Imports
``services``, ``domain``, ``core``; never an API router (checked by tests/test_layers.py)."""
