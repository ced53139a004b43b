"""The web UI: sign-in, the annotator's projects and labeling page, the managers' pages.

Pages are server-rendered Jinja2 with autoescape on; the labeling page's script talks to the same
REST API as any client, with the sign-in cookie. No page inlines a script (the Content Security
Policy forbids it), so even a failure of escaping could not run code from the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from loopline.annotate.projects import Policy
from loopline.core.errors import TooManyRequests, Unauthorized
from loopline.core.identity import Principal
from loopline.core.users import SESSION_TTL
from loopline.server.deps import COOKIE, principal_of, project_of

UI = Path(__file__).resolve().parent.parent / "ui"
templates = Jinja2Templates(directory=str(UI / "templates"))
router = APIRouter(include_in_schema=False)


def page_user(request: Request) -> Principal:
    """Who the guard admitted to this page (server/access.py decides who may see which)."""
    return principal_of(request)


def render(
    request: Request, name: str, who: Principal | None, http_status: int = 200, **context: Any
) -> Response:
    manager = who is not None and who.allows("labeling", "manage")
    context |= {"who": who, "is_manager": manager}
    return templates.TemplateResponse(request, name, context, status_code=http_status)


def safe_next(value: str | None) -> str | None:
    """A path on this server to go to after signing in, or None: only a local path ("/…", not
    "//host" or "/\\host", which browsers read as another origin), so a crafted link cannot send
    a user who signs in elsewhere."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if len(value) > 2000 or any(ord(c) < 32 or c == "\\" for c in value):
        return None
    return value


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    return render(request, "signin.html", None, next=safe_next(next))


@router.post("/signin")
def signin(
    request: Request,
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Trade a token for a server-side session: the cookie holds the session's id, never the
    token; then go to `next` (a local path, e.g. the page an MLflow link named) or home."""
    client = request.client.host if request.client else "unknown"
    target = safe_next(next)
    try:
        session_id, _ = project_of(request).sign_in(token.strip(), client=client)
    except TooManyRequests:
        error = "Too many failed sign-ins from here; wait a minute, then try again."
        return render(request, "signin.html", None, http_status=429, error=error, next=target)
    except Unauthorized:
        error = "That token is unknown or no longer active."
        return render(request, "signin.html", None, http_status=401, error=error, next=target)
    response = RedirectResponse(target or "/", status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=int(SESSION_TTL.total_seconds()),
    )
    return response


@router.post("/signout")
def signout(request: Request) -> Response:
    session_id = request.cookies.get(COOKIE)
    if session_id:
        project_of(request).sign_out(session_id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/annotate", response_class=HTMLResponse)
def annotate_projects(request: Request) -> Response:
    who = page_user(request)
    projects = project_of(request).annotate_projects()
    return render(request, "projects.html", who, projects=projects)


@router.get("/annotate/{project}", response_class=HTMLResponse)
def annotate_page(request: Request, project: str) -> Response:
    who = page_user(request)
    label_project = request.app.state.projects.get(project)
    keys = [(str(i + 1) if i < 9 else "", label) for i, label in enumerate(label_project.labels)]
    return render(request, "annotate.html", who, project=label_project, keys=keys)


@router.get("/manage", response_class=HTMLResponse)
def manage(request: Request) -> Response:
    who = page_user(request)
    overview = project_of(request).annotate_overview()
    return render(request, "manage.html", who, overview=overview)


@router.get("/manage/{project}", response_class=HTMLResponse)
def manage_project(request: Request, project: str) -> Response:
    who = page_user(request)
    report = project_of(request).annotate_report(project)
    label_project = request.app.state.projects.get(project)
    status = report["status"]
    return render(
        request,
        "manage_project.html",
        who,
        project=label_project,
        status=status,
        agreement=report["agreement"],
        annotators=annotator_rows(status),
        threshold=Policy().min_gold_accuracy,
    )


def annotator_rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per annotator: answers, gold answered and accuracy, and whether the default gold
    policy would flag them."""
    gold = {row["annotator"]: row for row in status.get("gold_accuracy", [])}
    flagged: list[str] = []
    if gold:
        import polars as pl

        _, flagged = Policy().weights(pl.DataFrame(list(gold.values())))
    return [
        {
            "name": name,
            "answers": answers,
            "gold_answers": gold.get(name, {}).get("gold_answers", 0),
            "gold_accuracy": gold.get(name, {}).get("gold_accuracy"),
            "flagged": name in flagged,
        }
        for name, answers in status["per_annotator"].items()
    ]


def render_error(
    request: Request, exc: Exception, status: int, code: str, message: str, hint: str | None
) -> Response:
    if isinstance(exc, Unauthorized) and request.method in ("GET", "HEAD"):
        return RedirectResponse("/signin", status_code=303)
    return render(request, "error.html", None, http_status=status, code=code, message=message, hint=hint)
