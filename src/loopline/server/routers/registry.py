"""The registry's REST API: approving a model version for an alias, as a signed-in approver.

`require_approval` aliases (loopline.yaml `registry:`) move only after an approval by an approver
who neither registered the version nor moves the alias (four eyes). On a shared server that
approver is the principal the guard authenticated, never an OS user; the audit log records it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from loopline.server.deps import Who, project_of

router = APIRouter(prefix="/api/v1/models", tags=["registry"])


class ApproveBody(BaseModel):
    alias: str = Field(min_length=1, max_length=64, description="the alias the approval is for")
    reason: str = Field("", max_length=2000, description="why, kept in the model's history")
    removal: bool = Field(False, description="approve removing the alias from this version")


@router.post("/{name}/versions/{version}/approve")
def approve(
    request: Request,
    name: Annotated[str, Path(max_length=200)],
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: ApproveBody,
    who: Who,
) -> dict[str, Any]:
    event = project_of(request).approve(name, version, body.alias, body.reason, removal=body.removal)
    data: dict[str, Any] = event.to_json()
    return data
