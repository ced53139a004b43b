"""`loopline users …` and `loopline tokens …`: who may use a shared server, with which role,
and their tokens (a secret is printed once, when it is made; listings never show one)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from loopline.cli.common import JSON, emit_json, open_project
from loopline.cli.render import console, listing
from loopline.core.errors import InvalidInput
from loopline.core.identity import KINDS, LEVELS, ROLES, Kind, Level, Resource, Role

if TYPE_CHECKING:
    from loopline.core.users import Token, User

users = typer.Typer(help="Users of a shared server: roles, kinds, grants.", no_args_is_help=True)
tokens = typer.Typer(help="Users' tokens: create (shown once), list, revoke.", no_args_is_help=True)

_ROLES: dict[str, Role] = {r: r for r in ROLES}
_KINDS: dict[str, Kind] = {k: k for k in KINDS}
_LEVELS: dict[str, Level | None] = {**{level: level for level in LEVELS}, "none": None}
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _choice(table: Mapping[str, object], value: str, what: str, option: str) -> None:
    if value not in table:
        raise InvalidInput(f"unknown {what} {value!r}", where=option, hint=f"one of: {', '.join(table)}")


def _duration(text: str) -> timedelta:
    found = _DURATION.match(text.strip())
    if not found or int(found[1]) == 0:
        raise InvalidInput(
            f"{text!r} is not a duration", where="--expires", hint="a number and a unit: 90m, 12h, 30d, 8w"
        )
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _user_json(user: User) -> dict[str, object]:
    return {"name": user.name, "role": user.role, "kind": user.kind, "active": user.active}


def _token_json(token: Token, now: datetime) -> dict[str, object]:
    return {
        "id": token.id,
        "user": token.user,
        "name": token.name,
        "state": token.state(now),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
    }


@users.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, '_', '-', '.').")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    kind: Annotated[str, typer.Option(help="person, or service (a training job, CI).")] = "person",
    as_json: JSON = False,
) -> None:
    """Add a user and print its first token (shown this once; only its hash is kept)."""
    _choice(_ROLES, role, "role", "--role")
    _choice(_KINDS, kind, "kind", "--kind")
    user, secret = open_project().users_add(name, _ROLES[role], _KINDS[kind])
    if as_json:
        emit_json({**_user_json(user), "token": secret})
    else:
        console.print(f"added {user.role} {escape(user.name)}; token (shown once, keep it):\n{secret}")


@users.command("list")
def users_list(as_json: JSON = False) -> None:
    """Every user with role, kind and whether active."""
    found = open_project().users_list()
    if as_json:
        emit_json([_user_json(u) for u in found])
        return
    rows = [[escape(u.name), u.role, u.kind, "yes" if u.active else "no", _when(u.created_at)] for u in found]
    listing(["name", "role", "kind", "active", "created"], rows, whole=("name",), drop=("created",))


@users.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Disable a user: their tokens stop working and their sessions end."""
    user = open_project().users_disable(name)
    console.print(f"disabled {escape(user.name)}")


@users.command("grant")
def users_grant(
    name: Annotated[str, typer.Argument(help="User name.")],
    level: Annotated[str, typer.Option(help="read, edit or manage; none takes the grant away.")],
    model: Annotated[str | None, typer.Option(help="A registered model.")] = None,
    experiment: Annotated[str | None, typer.Option(help="An experiment.")] = None,
    dataset: Annotated[str | None, typer.Option(help="A dataset.")] = None,
    labeling: Annotated[str | None, typer.Option(help="A labeling project.")] = None,
) -> None:
    """Give a user a level on one resource, whatever their role's default for its kind."""
    given: tuple[tuple[Resource, str | None], ...] = (
        ("model", model),
        ("experiment", experiment),
        ("dataset", dataset),
        ("labeling", labeling),
    )
    named = [(kind, value) for kind, value in given if value is not None]
    if len(named) != 1:
        raise InvalidInput(
            "name one resource", hint="exactly one of --model, --experiment, --dataset, --labeling"
        )
    _choice(_LEVELS, level, "level", "--level")
    resource, resource_name = named[0]
    open_project().users_grant(name, resource, resource_name, _LEVELS[level])
    what = f"{resource} {escape(resource_name)}"
    console.print(
        f"{escape(name)}: {level} on {what}" if level != "none" else f"{escape(name)}: no grant on {what}"
    )


@tokens.command("create")
def tokens_create(
    user: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option(help="A label to tell tokens apart (ci, laptop).")],
    expires: Annotated[
        str | None, typer.Option(help="Lifetime: 90m, 12h, 30d, 8w (default: until revoked).")
    ] = None,
    as_json: JSON = False,
) -> None:
    """Make a token and print its secret (shown this once; only its hash is kept)."""
    lifetime = _duration(expires) if expires is not None else None
    token, secret = open_project().tokens_create(user, name, lifetime)
    if as_json:
        emit_json({**_token_json(token, token.created_at), "token": secret})
    else:
        until = f", expires {_when(token.expires_at)} UTC" if token.expires_at else ""
        console.print(f"token {token.id} of {escape(user)}{until} (shown once, keep it):\n{secret}")


@tokens.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Argument(help="Whose tokens (default: everyone's).")] = None,
    as_json: JSON = False,
) -> None:
    """Tokens with their state and dates; never their secrets."""
    found = open_project().tokens_list(user)
    now = datetime.now(UTC)
    if as_json:
        emit_json([_token_json(t, now) for t in found])
        return
    rows = [
        [t.id, escape(t.user), escape(t.name), t.state(now), _when(t.expires_at), _when(t.last_used_at)]
        for t in found
    ]
    columns = ["id", "user", "name", "state", "expires", "last used"]
    listing(columns, rows, whole=("id", "user"), drop=("last used", "expires"))


@tokens.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="Token id (`tokens list`).")],
) -> None:
    """Revoke a token: it stops working at once, and the sessions signed in with it end."""
    token = open_project().tokens_revoke(token_id)
    console.print(f"revoked token {token.id} ({escape(token.name)}) of {escape(token.user)}")


def register(root: typer.Typer) -> None:
    root.add_typer(users, name="users")
    root.add_typer(tokens, name="tokens")
