"""Who may call which route: the rule of each (method, path) of an app, and the one guard that
enforces a route table before a handler runs or a body is read.

Used by both apps: `loopline serve`'s table is `SERVE_RULES` below; `loopline server`'s is
`loopline.server.access.SERVER_RULES`, with this module's guard. A route with no rule is refused
(403), whoever asks: a new route must say who may call it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi.routing import iter_route_contexts
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from loopline.core.errors import Forbidden, LooplineError, Unauthorized
from loopline.core.identity import Auth, Level, Principal, Resource, acting, local_principal

log = logging.getLogger(__name__)

__all__ = [
    "DOCS_RULES",
    "PUBLIC",
    "SERVE_RULES",
    "SIGNED_IN",
    "Guard",
    "Identities",
    "Rule",
    "credentials",
    "from_header",
    "need",
    "token_authenticator",
]


@dataclass(frozen=True)
class Rule:
    """What a route needs: nothing (public), a signed-in principal, or a level on a resource
    kind; `name` is the path parameter or request field that names the one resource (a grant
    on it counts); `approver`: the approver or admin role besides (approving a model)."""

    signed_in: bool = True
    resource: Resource | None = None
    level: Level | None = None
    name: str | None = None
    approver: bool = False

    def describe(self) -> str:
        if not self.signed_in:
            return "public"
        if self.resource is None or self.level is None:
            return "signed in"
        described = f"{self.resource}:{self.level}" + (f" ({self.name})" if self.name else "")
        return described + (", approver" if self.approver else "")

    def check(self, principal: Principal, params: Mapping[str, Any]) -> None:
        """Raise Forbidden unless principal may: on the named resource when the name is in
        params, else on the kind (a grant on any one resource of the kind is enough here; the
        handler checks that resource once it knows its name)."""
        if self.approver and not principal.can_approve:
            raise Forbidden(
                f"{principal.name} is a {principal.role}; approving needs the approver or admin role",
                hint="an admin can change a role (`loopline users`)",
            )
        if self.resource is None or self.level is None:
            return
        named = params.get(self.name) if self.name else None
        if named is not None:
            principal.require(self.resource, self.level, str(named))
            return
        if principal.allows(self.resource, self.level):
            return
        if any(
            kind == self.resource and principal.allows(kind, self.level, name)
            for kind, name in principal.grants
        ):
            return
        principal.require(self.resource, self.level)


PUBLIC = Rule(signed_in=False)
SIGNED_IN = Rule()


def need(resource: Resource, level: Level, name: str | None = None, *, approver: bool = False) -> Rule:
    return Rule(resource=resource, level=level, name=name, approver=approver)


Key = tuple[str, str]  # (method, path template); "*" for a mount, which takes every method

# FastAPI's own pages: the schema and its viewers describe the API, they hold no data.
DOCS_RULES: dict[Key, Rule] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
}

# `loopline serve`: predictions and the model's card need read on models; feedback becomes
# training truth (edit on the project); the metrics describe production traffic.
SERVE_RULES: dict[Key, Rule] = {
    **DOCS_RULES,
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("POST", "/predict"): need("model", "read"),
    ("GET", "/model"): need("model", "read"),
    ("POST", "/feedback"): need("project", "edit"),
    ("GET", "/metrics"): need("project", "read"),
}


def credentials(request: Request) -> tuple[Auth, str, str | None] | None:
    """(how, token, user) from the Authorization header: `Bearer TOKEN`, or `Basic` with a
    user name and one of that user's tokens as the password (MLFLOW_TRACKING_USERNAME/PASSWORD).
    None when there is no header; Unauthorized when it is malformed."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return "token", value, None
    if scheme.lower() == "basic" and value:
        try:
            user, colon, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, colon, password = "", "", ""
        if colon and user and password:
            return "basic", password, user
    raise Unauthorized(
        "the Authorization header must be `Bearer TOKEN` or `Basic` with user and token",
        hint="set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD",
    )


Authenticate = Callable[[Request], "Principal | None"]
Refuse = Callable[[Request, LooplineError], Response]


class Identities(Protocol):
    """Who a token is (the project's users: loopline.project._users.Users, or the Project)."""

    def authenticate_token(self, token: str) -> Principal: ...

    def authenticate_basic(self, user: str, password: str) -> Principal: ...


def from_header(request: Request, identities: Identities) -> Principal | None:
    """The principal of the Authorization header (None without one): a bearer token, or basic
    auth whose password is one of the user's tokens. Unauthorized for any other."""
    given = credentials(request)
    if given is None:
        return None
    how, token, user = given
    if how == "basic" and user is not None:
        return identities.authenticate_basic(user, token)
    return identities.authenticate_token(token)


def token_authenticator(identities: Identities | None) -> Authenticate:
    """Authenticate by the Authorization header; with no identities (auth off) every request is
    the local admin."""

    def authenticate(request: Request) -> Principal | None:
        if identities is None:
            return local_principal("local")
        return from_header(request, identities)

    return authenticate


def routes_of(routes: list[BaseRoute]) -> Iterator[tuple[Key, Any]]:
    """(key, route) of every route, included routers flattened, in matching order."""
    for context in iter_route_contexts(routes):
        methods = context.methods
        for method in sorted(methods - {"HEAD"}) if methods else ["*"]:
            yield (method, str(context.path)), context


class Guard:
    """ASGI middleware: find the route a request will reach, and before its handler runs,
    refuse it unless the table's rule lets the principal through; the handler then runs as the
    principal (`core.identity.current()`), also in the thread pool."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: list[BaseRoute],
        rules: Mapping[Key, Rule],
        authenticate: Authenticate,
        refuse: Refuse,
    ) -> None:
        self.app = app
        self.routes = routes
        self.rules = rules
        self.authenticate = authenticate
        self.refuse = refuse
        self._table: list[tuple[Key, Any]] = []
        self._count = -1

    def _match(self, scope: Scope) -> tuple[Key, dict[str, Any]] | None:
        if self._count != len(self.routes):  # routes added since: match them too
            self._table, self._count = list(routes_of(self.routes)), len(self.routes)
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        path = scope["path"]
        for key, context in self._table:
            if key[0] not in (method, "*"):
                continue
            found = context.path_regex.match(path)
            if found is not None:
                return key, found.groupdict()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        matched = self._match(scope)
        if matched is None:  # no route: the router answers 404 or 405, no handler runs
            await self.app(scope, receive, send)
            return
        key, params = matched
        request = Request(scope)
        try:
            principal = await self._admit(request, key, params)
        except LooplineError as exc:
            await self.refuse(request, exc)(scope, receive, send)
            return
        if principal is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        with acting(principal):
            await self.app(scope, receive, send)

    async def _admit(self, request: Request, key: Key, params: dict[str, Any]) -> Principal | None:
        rule = self.rules.get(key)
        if rule is None:
            log.error("%s %s has no access rule: refused", *key)
            raise Forbidden(f"{key[0]} {key[1]} has no access rule", hint="the server's route table lacks it")
        request.scope.setdefault("state", {})["rule"] = rule
        if not rule.signed_in:
            return None
        principal = await run_in_threadpool(self.authenticate, request)
        if principal is None:
            raise Unauthorized("sign in first: this needs a token", hint="send `Authorization: Bearer TOKEN`")
        rule.check(principal, params)
        rid = request.headers.get("x-request-id", "")[:100] or uuid.uuid4().hex
        return dataclasses.replace(principal, request_id=rid)


def markdown(rules: Mapping[Key, Rule]) -> str:
    """The table as docs/server.md shows it: one row per path and rule, its methods joined."""
    rows: dict[tuple[str, Rule], list[str]] = {}
    for (method, path), rule in rules.items():
        rows.setdefault((path, rule), []).append("any" if method == "*" else method)
    lines = ["| method | path | needs |", "| --- | --- | --- |"]
    for (path, rule), methods in rows.items():
        lines.append(f"| {', '.join(methods)} | `{path}` | {rule.describe()} |")
    return "\n".join(lines) + "\n"
