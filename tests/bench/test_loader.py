"""The load generator's pool of people: a TOTP code is good once per 30 s step and person, so the pool
must never hand the same person out twice in one step, and must give up at the deadline."""

from __future__ import annotations

import asyncio
import time

import pytest

from bench import flows
from bench.loader import Pool, _Exhausted


def test_people_with_totp_are_handed_out_once_per_step() -> None:
    pool = Pool([flows.User(f"p{i}", "pw", totp_secret="JBSWY3DPEHPK3PXP") for i in range(3)],
                clock=lambda: 30 * 1000 + 7)  # one fixed step
    pool.until = time.monotonic() + 0.3  # all three are used within the step; then nobody is left

    async def take_all() -> list[str]:
        taken = []
        with pytest.raises(_Exhausted):
            while True:
                user, _step = await pool.take()
                taken.append(user.login)
        return taken

    assert sorted(asyncio.run(take_all())) == ["p0", "p1", "p2"]


def test_people_without_totp_go_round() -> None:
    pool = Pool([flows.User("a", "pw"), flows.User("b", "pw")])

    async def take(n: int) -> list[str]:
        return [(await pool.take())[0].login for _ in range(n)]

    assert asyncio.run(take(5)) == ["a", "b", "a", "b", "a"]


def test_the_steps_used_go_on_to_the_next_window() -> None:
    """A scenario's rounds come seconds apart, each in a new loader: the steps one used are handed to
    the next, which then skips those people within the step."""

    def people(steps: dict[str, int]) -> list[flows.User]:
        return [flows.User(f"p{i}", "pw", totp_secret="JBSWY3DPEHPK3PXP", last_step=steps.get(f"p{i}", -1))
                for i in range(3)]

    first = Pool([*people({}), flows.User("x", "pw")], clock=lambda: 30 * 1000 + 7)  # one fixed step
    asyncio.run(first.take())
    assert first.totp_steps() == {"p0": 1000}  # people without TOTP are not tracked
    second = Pool(people(first.totp_steps()), clock=lambda: 30 * 1000 + 7)
    assert asyncio.run(second.take())[0].login == "p1"
