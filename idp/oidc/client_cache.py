"""The registered clients as the protocol reads them: immutable records, kept in memory per process.

Every authorization, token, introspection, revocation and logout request looks its client up, and
clients change a few times a year. ``lookup`` answers from this app's stamped cache: any write to the
client table bumps the ``clients`` stamp in its transaction, so an edit or a disabled client is seen by
every worker within IDP_CACHE_CHECK_SECONDS (at once by the process that made it). Code that changes a
client reads its row from storage instead (``client_registry``).

Unknown client_ids are not kept (each costs one indexed query, as before), so anyone may send made-up
ones without growing memory; known ones are bounded by the registry.
"""

from __future__ import annotations

from idp import stamped_cache
from idp.storage import clients
from idp.storage.clients import ClientRecord

MAX_CLIENT_ID_LENGTH = 128  # the column's size: a longer one cannot be registered


def lookup(client_id: str | None) -> ClientRecord | None:
    """The client ``client_id``, enabled or not; None when unknown."""
    if not isinstance(client_id, str) or not client_id or len(client_id) > MAX_CLIENT_ID_LENGTH:
        return None
    return stamped_cache.get(clients.STAMP, client_id, lambda: clients.record_by_client_id(client_id))


def enabled(client_id: str | None) -> ClientRecord | None:
    """The client ``client_id`` if it exists and may be used; else None."""
    record = lookup(client_id)
    return record if record is not None and record.enabled else None
