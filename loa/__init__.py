"""Loa: the open smart loudspeaker system for Vietnamese communes.

This package holds what every part shares: the wire protocol (``loa.protocol``), command
signatures (``loa.signing``) and the ``loa`` command line (``loa.cli``). The parts themselves live
beside it: ``controller``, ``node_agent``, ``audio`` and ``schedules``.
"""

__version__ = "0.1.0"
