"""The Loa node agent: runs on each speaker cluster's Raspberry Pi.

It keeps a signed schedule on disk, fetches and verifies media ahead of time, plays it on time
through the amplifier, and reports every play. See docs/node.md.
"""

from loa import __version__  # one version for every part (loa/__init__.py)

__all__ = ["__version__"]
