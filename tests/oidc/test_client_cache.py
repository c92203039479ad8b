"""Clients kept in each worker's memory: every write bumps the ``clients`` stamp in its transaction, other
workers see a change at their next look at the stamps, nothing rolled back is ever seen, and made-up
client_ids are never kept. The "other worker" is a second app on the same database; instead of waiting,
tests move its cache's clock past the check interval.
"""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import ECKey
from sqlalchemy import delete, update

from idp import stamped_cache
from idp.oidc import client_cache, client_registry
from idp.storage import clients, db, stamps, transaction
from idp.storage.clients import Client
from tests.conftest import make_app
from tests.helpers.oidc import REDIRECT_URI, register_client
from tests.helpers.queries import statements

NEW_URI = "https://portal.example.vn/new-callback"
CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}


def _version() -> int:
    return stamps.versions().get(clients.STAMP, 0)


def _later(app: Flask) -> None:
    """Move the app's cache clock past its check interval: its next access looks at the stamps."""
    with app.app_context():
        cache = stamped_cache.cache()
        later = cache.clock() + cache.check_seconds
        cache.clock = lambda: later


def test_every_write_to_the_client_table_bumps_the_stamp(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    writes = {
        "register": lambda: client_registry.register({"client_id": "cong-dvc", "client_name": "Cổng DVC",
                                                      "redirect_uris": [REDIRECT_URI]}),
        "upsert": lambda: client_registry.upsert({"client_id": "cong-dvc", "client_name": "Cổng DVC (mới)",
                                                  "redirect_uris": [REDIRECT_URI]}),
        "import": lambda: client_registry.import_clients([{"client_id": "he-thong", "client_name": "Hệ thống",
                                                           "grant_types": ["client_credentials"]}]),
        "rotate_secret": lambda: client_registry.rotate_secret("cong-dvc"),
        "set_enabled": lambda: client_registry.set_enabled("cong-dvc", False),
        "cli": lambda: runner.invoke(args=["idp", "client", "enable", "cong-dvc"]),
        "a row changed by hand": lambda: _in_transaction(lambda: setattr(client_registry.get("he-thong"),
                                                                         "client_name", "Hệ thống (mới)")),
        "bulk update": lambda: _in_transaction(lambda: db.session.execute(
            update(Client).where(Client.client_id == "he-thong").values(skip_consent=True))),
        "bulk delete": lambda: _in_transaction(lambda: db.session.execute(
            delete(Client).where(Client.client_id == "he-thong"))),
    }
    not_bumped = []
    for name, write in writes.items():
        before = _version()
        write()
        if _version() != before + 1:
            not_bumped.append(name)
    assert not_bumped == []


def _in_transaction(change: Any) -> None:
    with transaction():
        change()


def test_an_unchanged_upsert_bumps_nothing(app: Flask) -> None:
    metadata = {"client_id": "cong-dvc", "client_name": "Cổng DVC", "redirect_uris": [REDIRECT_URI]}
    client_registry.upsert(metadata)
    before = _version()
    assert client_registry.upsert(metadata).changed == ()
    assert _version() == before  # re-importing the same file does not make every worker reload


def test_the_writing_worker_sees_its_change_at_once(app: Flask) -> None:
    rp = register_client()
    assert client_cache.lookup(rp.client_id).redirect_uris == (REDIRECT_URI,)
    client_registry.upsert({"client_id": rp.client_id, "client_name": "Cổng", "redirect_uris": [NEW_URI]})
    assert client_cache.lookup(rp.client_id).redirect_uris == (NEW_URI,)


def test_another_worker_sees_a_client_edit_at_its_next_stamp_check(app: Flask, app_config: dict[str, Any]) -> None:
    rp = register_client()
    other = make_app({**app_config, "IDP_CACHE_CHECK_SECONDS": 3600})
    with other.app_context():
        assert client_cache.lookup(rp.client_id).redirect_uris == (REDIRECT_URI,)
    client_registry.upsert({"client_id": rp.client_id, "client_name": "Cổng", "redirect_uris": [NEW_URI]})
    with other.app_context():  # from memory until its next look at the stamps...
        assert client_cache.lookup(rp.client_id).redirect_uris == (REDIRECT_URI,)
    _later(other)
    with other.app_context():  # ...which sees the new version and reloads
        assert client_cache.lookup(rp.client_id).redirect_uris == (NEW_URI,)


def test_a_client_disabled_by_one_worker_is_refused_by_another(app: Flask, app_config: dict[str, Any]) -> None:
    machine = register_client(grant_types=["client_credentials"], redirect_uris=[], scope="profile")
    headers = machine.basic_auth()
    other = make_app({**app_config, "IDP_CACHE_CHECK_SECONDS": 0}).test_client()
    assert other.post("/token", data=CLIENT_CREDENTIALS, headers=headers).status_code == 200
    client_registry.set_enabled(machine.client_id, False)
    assert other.post("/token", data=CLIENT_CREDENTIALS, headers=headers).status_code == 401


def test_a_rolled_back_change_is_never_seen(app: Flask) -> None:
    rp = register_client(client_name="Cổng DVC")
    assert client_cache.lookup(rp.client_id).client_name == "Cổng DVC"
    before = _version()
    with pytest.raises(RuntimeError), transaction():
        client_registry.get(rp.client_id).client_name = "Chưa lưu"
        # Inside the writing transaction the cache reads the table (and keeps nothing).
        assert client_cache.lookup(rp.client_id).client_name == "Chưa lưu"
        raise RuntimeError("rolled back")
    assert _version() == before
    assert client_cache.lookup(rp.client_id).client_name == "Cổng DVC"


def test_known_clients_are_kept_and_made_up_client_ids_are_not(app: Flask, client: FlaskClient) -> None:
    rp = register_client()
    client_cache.lookup(rp.client_id)
    with statements() as known:
        client_cache.lookup(rp.client_id)
    with statements() as unknown_first:
        assert client_cache.lookup("made-up") is None
    with statements() as unknown_again:
        assert client_cache.lookup("made-up") is None
    with statements() as too_long:
        assert client_cache.lookup("x" * 129) is None
    assert known == [] and too_long == []
    assert unknown_first == unknown_again == ["SELECT client"]  # asked every time: nothing to fill memory with


def test_records_are_immutable_copies(app: Flask) -> None:
    jwks = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}
    rp = register_client(token_endpoint_auth_method="private_key_jwt", jwks=jwks)
    record = client_cache.lookup(rp.client_id)
    with pytest.raises(FrozenInstanceError):
        record.enabled = False  # type: ignore[misc]
    assert isinstance(record.redirect_uris, tuple) and isinstance(record.grant_types, tuple)
    record.jwks["keys"].clear()  # a copy: the shared record is untouched
    assert client_cache.lookup(rp.client_id).jwks == jwks == json.loads(record.jwks_json)
