"""Brute-force protection: delays, lock, no account enumeration, per-IP counters, Redis."""

from __future__ import annotations

import os
import secrets
import time
from datetime import timedelta

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from idp.authn import throttle
from idp.identity import accounts
from idp.storage import audit_events, utcnow
from tests.conftest import new_id_number
from tests.helpers.forms import sign_in, without_csrf_token

LOCK_MESSAGE = "Tài khoản tạm khóa, vui lòng thử lại sau 15 phút."


def _fail(client: FlaskClient, identifier: str, times: int) -> None:
    for _ in range(times):
        assert sign_in(client, identifier, "wrong password").status_code == 200


def test_lock_after_five_failures_refuses_the_right_password(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    _fail(client, citizen.id_number, 5)
    response = sign_in(client, citizen.id_number, citizen.password)
    assert response.status_code == 429
    assert LOCK_MESSAGE in response.get_data(as_text=True)
    events = [e.event for e in audit_events.recent()]
    assert events.count("login.failure") == 5 and "login.locked" in events and events[0] == "login.throttled"


def test_unknown_identifier_locks_the_same_way(client: FlaskClient, make_citizen) -> None:
    citizen, unknown = make_citizen(), new_id_number()
    _fail(client, citizen.id_number, 5)
    _fail(client, unknown, 5)
    known_page = sign_in(client, citizen.id_number, "anything").get_data(as_text=True)
    unknown_page = sign_in(client, unknown, "anything").get_data(as_text=True)
    assert without_csrf_token(known_page.replace(citizen.id_number, "X")) == \
        without_csrf_token(unknown_page.replace(unknown, "X"))
    assert LOCK_MESSAGE in unknown_page


def test_id_number_and_email_share_one_budget(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen(email="chung@example.vn")
    _fail(client, citizen.id_number, 3)
    _fail(client, "chung@example.vn", 2)
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 429


def test_success_resets_the_counter(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    _fail(client, citizen.id_number, 4)
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 302
    client.delete_cookie("dn_sso")
    _fail(client, citizen.id_number, 4)
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 302


def test_growing_delay_between_attempts(app: Flask, client: FlaskClient, make_citizen) -> None:
    app.config["IDP_LOGIN_DELAY_BASE_SECONDS"] = 10.0
    citizen = make_citizen()
    _fail(client, citizen.id_number, 1)  # one typo: no wait
    _fail(client, citizen.id_number, 1)
    response = sign_in(client, citizen.id_number, citizen.password)
    assert response.status_code == 429
    assert "Vui lòng đợi 10 giây rồi thử lại." in response.get_data(as_text=True)


def test_delays_double_and_are_capped(app: Flask) -> None:
    limits = throttle.Limits(6, timedelta(minutes=15), timedelta(minutes=15), 1.0, 2.0)
    now = utcnow()
    counter, waits = None, []
    for _ in range(5):
        counter = throttle._after_failure(counter, now, limits)
        waits.append((counter.retry_after - now).total_seconds() if counter.retry_after else 0.0)
    assert waits == [0.0, 1.0, 2.0, 2.0, 2.0]
    locked = throttle._after_failure(counter, now, limits)
    assert locked.locked_until == now + limits.lock
    # After the lock has passed, counting starts again.
    fresh = throttle._after_failure(locked, now + limits.lock, limits)
    assert fresh.failures == 1 and fresh.locked_until is None


def test_lock_expires(app: Flask, client: FlaskClient, make_citizen) -> None:
    app.config["IDP_LOGIN_LOCK_SECONDS"] = 3  # long enough that the check below falls inside it on a busy machine
    citizen = make_citizen()
    _fail(client, citizen.id_number, 5)
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 429
    time.sleep(3.1)
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 302


def test_operator_unlock_clears_the_temporary_lock(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    _fail(client, citizen.id_number, 5)
    accounts.unlock(citizen.id_number)
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 302


def test_client_ip_is_paused_after_many_failures(app: Flask, client: FlaskClient, make_citizen) -> None:
    app.config["IDP_LOGIN_IP_MAX_FAILURES"] = 3
    victim = make_citizen()
    for _ in range(3):
        _fail(client, new_id_number(), 1)  # a spray over many identifiers
    response = sign_in(client, victim.id_number, victim.password)
    assert response.status_code == 429
    # Another address is unaffected.
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert sign_in(client, victim.id_number, victim.password).status_code == 302


def test_counters_do_not_store_identifiers_in_clear(client: FlaskClient, make_citizen) -> None:
    from sqlalchemy import select

    from idp.storage import db
    from idp.storage.throttle import LoginThrottle

    unknown = new_id_number()
    _fail(client, unknown, 1)
    keys = db.session.execute(select(LoginThrottle.key)).scalars().all()
    assert keys and all(unknown not in key and "127.0.0.1" not in key for key in keys)


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI and is not reachable at {url}")
        pytest.skip(f"no Redis at {url}")
    return url


def test_ip_counters_in_redis(app_config, redis_url: str, make_citizen) -> None:
    from tests.conftest import make_app

    app_config.update(IDP_REDIS_URL=redis_url, IDP_LOGIN_IP_MAX_FAILURES=2,
                      IDP_SECRET_KEY=secrets.token_urlsafe(32))
    app = make_app(app_config)
    with app.app_context():
        victim = make_citizen()
        client = app.test_client()
        _fail(client, new_id_number(), 1)
        _fail(client, new_id_number(), 1)
        assert sign_in(client, victim.id_number, victim.password).status_code == 429
        names = redis.Redis.from_url(redis_url).keys("dangnhap:throttle:ip:*")
        assert names
        # The per-account counters stay in the database.
        assert redis.Redis.from_url(redis_url).keys("dangnhap:throttle:account:*") == []
        redis.Redis.from_url(redis_url).delete(*names)


def test_counters_are_read_one_or_two_at_a_time_each_by_its_own_pair(app: Flask) -> None:
    """A sign-in reads its account's and its address's counters in one statement, or one of them
    when addresses are counted in Redis; neither reading returns another counter."""
    from idp.storage import reading, transaction
    from idp.storage import throttle as rows

    now = utcnow()
    limits = throttle.Limits(max_failures=5, window=timedelta(minutes=15), lock=timedelta(minutes=15),
                             delay_base=0.0, delay_max=0.0)
    with app.test_request_context():
        with transaction():
            for scope, key in (("account", "a"), ("ip", "b"), ("account", "b"), ("ip", "a")):
                throttle.DatabaseStore().fail(scope, key, now, limits)
        with reading():
            both = rows.get_many([("account", "a"), ("ip", "b")])
            one = rows.get_many([("ip", "a")])
            none = rows.get_many([("account", "nobody"), ("ip", "nowhere")])
            with pytest.raises(ValueError):
                rows.get_many([("account", "a"), ("ip", "b"), ("ip", "a")])
    assert set(both) == {("account", "a"), ("ip", "b")} and set(one) == {("ip", "a")} and none == {}
    failures, window_started_at, _retry_after, locked_until = one["ip", "a"]
    assert failures == 1 and window_started_at == now and locked_until is None
