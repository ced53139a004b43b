"""Who is acting, and what they may do: roles, per-resource permission levels, and the principal
of the command or request being served.

A user has one role. A role gives a default level (read < edit < manage, as MLflow's auth app)
on each kind of resource; a grant on one resource (a registered model, an experiment, a dataset,
a labeling project) overrides the default for that resource only. Approving a model and managing
users are capabilities of their own (`can_approve`, resource kind "users").

The principal of the current command or request lives in a context variable: the server's
authentication sets it per request (`acting(principal)`), the CLI on a local project sets the OS
user as a *local* admin, and the store's write path reads it to name who made each change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal, get_args

from loopline.core.errors import Forbidden

__all__ = [
    "AUTH_METHODS",
    "KINDS",
    "LEVELS",
    "RESOURCES",
    "ROLES",
    "ROLE_DEFAULTS",
    "Auth",
    "Kind",
    "Level",
    "Principal",
    "Resource",
    "Role",
    "acting",
    "current",
    "local_principal",
]

Role = Literal["admin", "maintainer", "scientist", "approver", "annotator", "viewer"]
Kind = Literal["person", "service"]
Level = Literal["read", "edit", "manage"]
# What a permission is about. "labeling" is a labeling project; "project" is what belongs to no
# named resource (pipeline runs, monitoring reports, deployments, the audit log's reads).
Resource = Literal["experiment", "model", "dataset", "labeling", "project", "users"]
# How the principal proved who it is: a bearer token, the UI's server-side session, HTTP basic
# auth (MLFLOW_TRACKING_USERNAME/PASSWORD), the OS user on a local project, or nothing.
Auth = Literal["token", "session", "basic", "local", "none"]

ROLES: tuple[Role, ...] = get_args(Role)
KINDS: tuple[Kind, ...] = get_args(Kind)
LEVELS: tuple[Level, ...] = get_args(Level)  # in order: each includes the ones before it
RESOURCES: tuple[Resource, ...] = get_args(Resource)
AUTH_METHODS: tuple[Auth, ...] = get_args(Auth)

_ALL_READ: dict[Resource, Level] = {
    "experiment": "read",
    "model": "read",
    "dataset": "read",
    "labeling": "read",
    "project": "read",
}
ROLE_DEFAULTS: Mapping[Role, Mapping[Resource, Level]] = {
    "admin": {resource: "manage" for resource in RESOURCES},
    "maintainer": {**{resource: "manage" for resource in RESOURCES if resource != "users"}},
    "scientist": {
        "experiment": "edit",
        "model": "edit",
        "dataset": "edit",
        "labeling": "manage",
        "project": "edit",
    },
    "approver": _ALL_READ,
    # An annotator answers tasks (edit on labeling projects) and sees nothing else.
    "annotator": {"labeling": "edit"},
    "viewer": _ALL_READ,
}
_APPROVERS: frozenset[Role] = frozenset({"admin", "approver"})


@dataclass(frozen=True)
class Principal:
    """A user (or service) acting now, how they signed in, and their per-resource grants."""

    name: str
    role: Role
    kind: Kind = "person"
    auth: Auth = "token"
    request_id: str | None = None
    # (resource kind, resource name) -> level, overriding the role's default for that resource
    grants: Mapping[tuple[Resource, str], Level] = field(default_factory=dict)

    def level(self, resource: Resource, name: str | None = None) -> Level | None:
        """This principal's level on `resource` (one named resource, or the kind in general)."""
        if name is not None and (resource, name) in self.grants:
            return self.grants[(resource, name)]
        return ROLE_DEFAULTS[self.role].get(resource)

    def allows(self, resource: Resource, level: Level, name: str | None = None) -> bool:
        held = self.level(resource, name)
        return held is not None and LEVELS.index(held) >= LEVELS.index(level)

    def require(self, resource: Resource, level: Level, name: str | None = None) -> None:
        """Raise Forbidden, naming who, what they are and what this needs, unless allowed."""
        if not self.allows(resource, level, name):
            what = f"{resource} {name!r}" if name is not None else f"{resource}s"
            raise Forbidden(
                f"{self.name} is {_article(self.role)} {self.role}; this needs {level} on {what}",
                hint="an admin can change a role (`loopline users`) or grant this resource",
            )

    @property
    def can_approve(self) -> bool:
        return self.role in _APPROVERS


def _article(role: str) -> str:
    return "an" if role[0] in "aeiou" else "a"


def local_principal(user: str) -> Principal:
    """The OS user running the CLI on a local project: an admin of their own folder, recorded as
    a local actor (nothing proved who they are beyond access to the files)."""
    return Principal(name=user, role="admin", auth="local")


_current: ContextVar[Principal | None] = ContextVar("loopline_principal", default=None)


def current() -> Principal | None:
    """The principal of the command or request being served, if one was set."""
    return _current.get()


@contextmanager
def acting(principal: Principal) -> Iterator[Principal]:
    """Make `principal` the one acting for the code inside the block (this thread or task)."""
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)
