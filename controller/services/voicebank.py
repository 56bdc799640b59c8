"""Withdrawing giọng xã, with the nodes told: :func:`controller.domain.voicebank.delete` changes
the database and removes the files; the nodes that held a broadcast whose approved audio the bank
spoke then get their whole schedule again (``schedule.sync`` is authoritative), which no longer
holds it, so an already delivered copy of the voice is not played. A node the broker cannot reach
now gets its sync when it reconnects."""

from __future__ import annotations

import logging

from controller.domain import voicebank
from controller.domain.identity import Identity
from controller.services.runtime import Runtime

log = logging.getLogger("controller.voicebank")


def delete_bank(
    runtime: Runtime, who: Identity, name: str, ip: str | None = None
) -> voicebank.Withdrawal:
    settings = runtime.settings
    done = voicebank.delete(
        runtime.store,
        who,
        name,
        cache_dir=settings.tts_cache_dir,
        media_dir=settings.media_dir,
        ip=ip,
    )
    for node_id in done.requeued_nodes:
        if not runtime.dispatcher.sync_node(node_id):
            log.warning("giọng xã %s deleted: node %s not reachable for its sync", name, node_id)
    log.info(
        "giọng xã %s deleted: %d announcements lose its audio (%d to approve again), "
        "%d cached chunks, %d renderings",
        name,
        done.announcements,
        done.back_to_pending,
        done.cached_chunks,
        done.cached_renders,
    )
    return done
