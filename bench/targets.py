"""The servers the protocol benchmark measures, started and seeded: dangnhap on SQLite or PostgreSQL
(bench/seed.py through the domain functions) and node-oidc-provider (bench/node/), each with the
clients, people and access tokens the scenarios need."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from idp.oidc.keys import VERIFIED_TOKENS_KEPT
from tests.helpers.databases import throwaway_postgres
from tests.helpers.directory_settings import directory_settings
from tests.helpers.slapd import Slapd, free_port

from . import flows, seed, servers
from .keepalive import Connection
from .servers import Server

NODE_RESOURCE = {"resource": "urn:dangnhap:bench:api"}  # bench/node/server.mjs's resource server


@dataclass
class Target:
    """A started server with what the scenarios need to talk to it."""

    name: str
    server: Server
    clients: seed.Clients
    people: dict[str, list[flows.User]]
    discovery: dict[str, Any] = field(default_factory=dict)
    database_processes: Callable[[], list[int]] = list
    access_token: str = ""
    access_tokens: list[str] = field(default_factory=list)  # MANY_TOKENS of them, all of one grant

    @property
    def provider(self) -> flows.Provider:
        return flows.Provider.from_discovery(self.discovery)


# The access tokens the "many tokens" scenarios go round: twice as many as a dangnhap worker remembers
# as verified (idp/oidc/keys.py), so that, taken in turn, each has been forgotten when it comes again.
MANY_TOKENS = 2 * VERIFIED_TOKENS_KEPT


async def _access_tokens(target: Target) -> list[str]:
    """A citizen's access token from a complete code flow, then MANY_TOKENS more from refreshing it,
    for the userinfo and introspection scenarios.

    Asked without a resource: node-oidc-provider's userinfo and introspection accept only its opaque
    access tokens (bench/node/README.md); dangnhap's are JWTs either way.
    """
    browser, backend = Connection("127.0.0.1", target.server.port), Connection("127.0.0.1", target.server.port)
    portal = dataclasses.replace(target.clients.portal, token_params={})
    try:
        code, verifier = await flows.authorize(browser, target.provider, portal, target.people["citizen"][0])
        answer = await flows.exchange(backend, target.provider, portal, code, verifier)
        tokens = [answer["access_token"]]
        for _ in range(MANY_TOKENS):
            answer = await flows.refresh(backend, target.provider, portal, answer["refresh_token"])
            tokens.append(answer["access_token"])
        return tokens
    finally:
        browser.close()
        backend.close()


def _prepared(target: Target) -> Target:
    target.discovery = target.server.get_json("/.well-known/openid-configuration")
    target.access_token, *target.access_tokens = asyncio.run(_access_tokens(target))
    return target


@contextlib.contextmanager
def _database(kind: str, work: Path) -> Iterator[tuple[str, Callable[[], list[int]]]]:
    """A new database URL and how to find the processes serving it (none for SQLite)."""
    if kind == "sqlite":
        yield f"sqlite:///{work / 'bench.db'}", list
        return
    with throwaway_postgres("dangnhap_bench") as url:
        yield url, lambda: servers.processes_named("postgres")


@contextlib.contextmanager
def dangnhap(kind: str, work: Path, slapd: Slapd | None, args: argparse.Namespace,
             log: IO[bytes]) -> Iterator[Target]:
    clients = seed.Clients.generate()
    config: dict[str, Any] = {"IDP_SECRET_KEY": secrets.token_urlsafe(32), "IDP_DATA_KEY": secrets.token_urlsafe(32),
                              "IDP_INSTANCE_PATH": str(work / "instance"),
                              # The parameters the limit is measured with: the seed hashes with them, the server checks.
                              "IDP_ARGON2_MEMORY_KIB": args.argon2_memory_kib,
                              "IDP_ARGON2_TIME_COST": args.argon2_time_cost}
    if slapd is not None:
        config.update(directory_settings(slapd, tls="starttls", IDP_LDAP_TIMEOUT=5.0))
    port = free_port()
    config["IDP_ISSUER"] = f"http://127.0.0.1:{port}"
    with _database(kind, work) as (url, database_processes):
        config["IDP_DATABASE_URL"] = url
        people = seed.seed(config, clients, totp_people=args.totp_people, officials=args.officials if slapd else 0)
        server = servers.start_dangnhap(f"dangnhap ({kind})", port, config, workers=args.workers,
                                        threads=args.threads, log=log)
        try:
            yield _prepared(Target(f"dangnhap-{kind}", server, clients,
                                   {"citizen": [people.citizen], "citizens_with_totp": people.citizens_with_totp,
                                    "officials_with_totp": people.officials_with_totp},
                                   database_processes=database_processes))
        finally:
            server.stop()


@contextlib.contextmanager
def node(work: Path, log: IO[bytes]) -> Iterator[Target]:
    clients = seed.Clients.generate()
    clients = dataclasses.replace(clients, portal=dataclasses.replace(clients.portal, token_params=NODE_RESOURCE),
                                  public=dataclasses.replace(clients.public, token_params=NODE_RESOURCE))
    node_clients = []
    for entry in clients.metadata():
        entry = {**entry, "access_token_alg": entry.pop("access_token_signed_response_alg"),
                 "id_token_signed_response_alg": "RS256"}
        entry.pop("skip_consent", None)
        entry.pop("client_name", None)
        node_clients.append(entry)
    user = flows.User("nguoi-dung-do-tai", seed.PASSWORD)
    setup = work / "node-setup.json"
    setup.write_text(json.dumps({"clients": node_clients,
                                 "user": {"login": user.login, "password": user.password, "sub": "bench-user-1"}}))
    server = servers.start_node(free_port(), setup, log=log)
    try:
        yield _prepared(Target("node-oidc-provider", server, clients, {"citizen": [user]}))
    finally:
        server.stop()
