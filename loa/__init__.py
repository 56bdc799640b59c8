"""Loa: the open smart loudspeaker system for Vietnamese communes.

This package holds what every part shares: the wire protocol (``loa.protocol``), command
signatures (``loa.signing``) and the ``loa`` command line (``loa.cli``). The parts themselves live
beside it: ``controller``, ``node_agent``, ``audio`` and ``schedules``.

``__version__`` is the one version of everything: the wheel's (pyproject.toml reads it), the
node agent's heartbeat, ``loa --version`` and the web pages' footer. Changes: CHANGELOG.md.
"""

import re

__version__ = "0.1.0"


def version_key(version: str) -> tuple[int, ...]:
    """ "0.10.2" → (0, 10, 2): each dot-separated part's leading digits (none: 0), so versions
    compare as numbers ("0.10" is newer than "0.9")."""
    return tuple(int(m.group()) if (m := re.match(r"\d+", p)) else 0 for p in version.split("."))


def older_than(version: str | None, than: str = __version__) -> bool:
    """True when ``version`` (a node's) is older than ``than`` (this controller's); an unknown
    version is not flagged."""
    if not version:
        return False
    return version_key(version) < version_key(than)
