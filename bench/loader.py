"""The load generator for scenarios that are sequences of requests (sign-in flows, code exchange,
refresh), run as its own process so the harness can pin it to the other core:

    python -m bench.loader < spec.json

The spec (JSON on standard input) names the mode, the provider's endpoints, the client, the users,
the concurrency and the times. The loader prints ``measure`` when the measured window opens and
``done`` when it closes (the harness samples CPU time at both), then one line of JSON: operations,
seconds, latency percentiles and errors. Warm-up work is never counted. Every loop ends at its
deadline, whatever the server does.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import flows
from .keepalive import Connection

_SETUP_SECONDS = 60.0  # sign-ins before the measurement (refresh, exchange) must finish within this


class _Exhausted(Exception):
    """Nothing left to do before the deadline (every minted code exchanged, every TOTP user used in
    this time step): the worker stops early, and its window is shorter."""


@dataclass
class Pool:
    """Users taken in turn; one with a TOTP secret only once per 30 s step (servers refuse replays)."""

    users: list[flows.User]
    position: int = 0
    waited: float = 0.0
    until: float = float("inf")  # time.monotonic() after which nobody is handed out
    clock: Callable[[], float] = time.time  # for the TOTP step (tests fix it)

    async def take(self) -> tuple[flows.User, int]:
        while time.monotonic() < self.until:
            step = int(self.clock() // 30)
            for _ in range(len(self.users)):
                user = self.users[self.position]
                self.position = (self.position + 1) % len(self.users)
                if user.totp_secret is None or user.last_step < step:
                    user.last_step = step
                    return user, step
            started = time.perf_counter()
            await asyncio.sleep(0.05)
            self.waited += time.perf_counter() - started
        raise _Exhausted

    def totp_steps(self) -> dict[str, int]:
        """The last TOTP step each user was handed out for, for the next window to go on from."""
        return {u.login: u.last_step for u in self.users if u.totp_secret is not None and u.last_step >= 0}


@dataclass
class Tally:
    """What the measured window saw."""

    measuring: bool = False
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_sample: str = ""

    def record(self, started: float) -> None:
        if self.measuring:
            self.latencies.append(time.perf_counter() - started)

    def fail(self, exc: Exception) -> None:
        """Count a failure in the window; remember the first one, warm-up included (it explains an
        empty window)."""
        self.errors += self.measuring
        self.error_sample = self.error_sample or f"{type(exc).__name__}: {exc}"[:300]


@dataclass
class Spec:
    mode: str
    host: str
    port: int
    provider: flows.Provider
    client: flows.Client
    pool: Pool
    concurrency: int
    warmup: float
    seconds: float
    mint_seconds: float

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Spec:
        return cls(mode=raw["mode"], host=raw["host"], port=int(raw["port"]),
                   provider=flows.Provider(**raw["provider"]), client=flows.Client(**raw["client"]),
                   pool=Pool([flows.User(**u) for u in raw["users"]]), concurrency=int(raw["concurrency"]),
                   warmup=float(raw["warmup"]), seconds=float(raw["seconds"]),
                   mint_seconds=float(raw.get("mint_seconds", 15.0)))

    def connection(self) -> Connection:
        return Connection(self.host, self.port)


Step = Callable[[], Awaitable[None]]


async def _signed_in_browser(spec: Spec) -> Connection:
    browser = spec.connection()
    user, step = await spec.pool.take()
    await flows.authorize(browser, spec.provider, spec.client, user, totp_step=step)
    return browser


async def _flow_worker(spec: Spec) -> Step:
    """A complete sign-in: a new browser session each time, the code exchanged by the back end."""
    browser, backend = spec.connection(), spec.connection()

    async def step() -> None:
        browser.cookies.clear()
        user, totp_step = await spec.pool.take()
        code, verifier = await flows.authorize(browser, spec.provider, spec.client, user, totp_step=totp_step)
        await flows.exchange(backend, spec.provider, spec.client, code, verifier)

    return step


async def _sso_worker(spec: Spec) -> Step:
    """A signed-in person opening another portal: the authorization answered from the SSO session
    (no password, no form), as every portal's first page does for someone signed in elsewhere."""
    browser = await _signed_in_browser(spec)

    async def step() -> None:
        await flows.authorize(browser, spec.provider, spec.client, None)

    return step


async def _sign_in_worker(spec: Spec) -> Step:
    """A sign-in on the provider's own page, in a new browser session each time: what argon2 limits."""
    browser = spec.connection()
    login_url = spec.provider.authorization_endpoint.rsplit("/", 1)[0] + "/login"

    async def step() -> None:
        browser.cookies.clear()
        user, totp_step = await spec.pool.take()
        await flows.sign_in(browser, login_url, user, totp_step=totp_step)

    return step


async def _refresh_worker(spec: Spec) -> Step:
    """One grant per virtual user, its refresh token rotated on every call."""
    browser, backend = await _signed_in_browser(spec), spec.connection()
    code, verifier = await flows.authorize(browser, spec.provider, spec.client, None)
    current = (await flows.exchange(backend, spec.provider, spec.client, code, verifier))["refresh_token"]

    async def step() -> None:
        nonlocal current
        current = (await flows.refresh(backend, spec.provider, spec.client, current))["refresh_token"]

    return step


class _Codes:
    """Codes minted by signed-in browsers (single sign-on, no password) before the measurement."""

    def __init__(self) -> None:
        self.ready: list[tuple[str, str]] = []

    async def mint(self, spec: Spec, browser: Connection, until: float) -> None:
        while time.monotonic() < until:
            self.ready.append(await flows.authorize(browser, spec.provider, spec.client, None))


async def _run(spec: Spec) -> dict[str, Any]:
    tally = Tally()
    codes = _Codes()
    setup_deadline = time.monotonic() + _SETUP_SECONDS
    if spec.mode == "exchange":
        browsers = await asyncio.wait_for(
            asyncio.gather(*(_signed_in_browser(spec) for _ in range(spec.concurrency))), _SETUP_SECONDS)
        until = min(time.monotonic() + spec.mint_seconds, setup_deadline)
        await asyncio.gather(*(codes.mint(spec, b, until) for b in browsers))
        minted = len(codes.ready)
        backends = [spec.connection() for _ in range(spec.concurrency)]

        async def make(index: int) -> Step:
            async def step() -> None:
                if not codes.ready:
                    raise _Exhausted
                code, verifier = codes.ready.pop()
                await flows.exchange(backends[index], spec.provider, spec.client, code, verifier)
            return step

        steps = [await make(i) for i in range(spec.concurrency)]
    else:
        minted = 0
        factory = {"flow": _flow_worker, "refresh": _refresh_worker, "sign-in": _sign_in_worker,
                   "sso": _sso_worker}[spec.mode]
        steps = await asyncio.wait_for(
            asyncio.gather(*(factory(spec) for _ in range(spec.concurrency))), _SETUP_SECONDS)

    warm_until = time.monotonic() + (spec.warmup if spec.mode != "exchange" else 0.0)
    end_at = warm_until + spec.seconds
    spec.pool.until = end_at
    opened: list[float] = []

    async def worker(step: Step) -> None:
        while (now := time.monotonic()) < end_at:
            if now >= warm_until and not tally.measuring:
                tally.measuring = True
                opened.append(time.perf_counter())
                print("measure", flush=True)
            started = time.perf_counter()
            try:
                await step()
            except _Exhausted:
                return
            except (flows.FlowError, OSError, ValueError, KeyError, asyncio.IncompleteReadError) as exc:
                tally.fail(exc)
                continue
            tally.record(started)

    await asyncio.gather(*(worker(s) for s in steps))
    elapsed = time.perf_counter() - opened[0] if opened else 0.0
    print("done", flush=True)
    return {"ops": len(tally.latencies), "seconds": elapsed, "latencies": _percentiles(tally.latencies),
            "errors": tally.errors, "error_sample": tally.error_sample, "codes_minted": minted,
            "waited_for_totp_seconds": round(spec.pool.waited, 2), "totp_steps": spec.pool.totp_steps()}


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50_ms": 0.0, "p99_ms": 0.0}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50_ms": round(at(0.50), 2), "p99_ms": round(at(0.99), 2)}


def main() -> int:
    spec = Spec.parse(json.load(sys.stdin))
    try:
        result = asyncio.run(_run(spec))
    except (flows.FlowError, OSError, TimeoutError) as exc:
        print("done", flush=True)
        result = {"ops": 0, "seconds": 0.0, "latencies": _percentiles([]), "errors": 1,
                  "error_sample": f"setup failed: {type(exc).__name__}: {exc}"[:300]}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
