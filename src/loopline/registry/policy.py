"""The promotion policy: which gates must have passed and which aliases need a human approval.

From loopline.yaml:

    registry:
      require_gates: true            # a version whose gates failed is never promoted (default true)
      require_gate_results: [production]  # these aliases also refuse a version never gated
      require_approval: [production]  # these aliases need `loopline approve` first

A refusal is a CheckFailed (exit 1) that carries the gate report, and nothing is recorded.

Four eyes: on an alias in `require_approval`, pointing it at a version, rolling it back to one
or removing it needs an approval of that version for that alias (for a removal, an approval of
removing it) by someone who neither registered the version nor makes the change. Who that is
comes from the acting principal (the server's signed-in user; on a local project the OS user or
LOOPLINE_USER, recorded as auth "local"); an approval counts by name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loopline.core.errors import CheckFailed, ConfigError
from loopline.store.metadata.registry import ModelEvent, ModelVersion, check_alias

DEFAULT_ALIASES = ("candidate", "staging", "production")
_KEYS = {"require_gates", "require_gate_results", "require_approval"}


def _aliases(value: Any, key: str, where: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"registry.{key} must be a list of aliases", where=where, hint=f"{key}: [production]"
        )
    return tuple(check_alias(v) for v in value)


@dataclass(frozen=True)
class Policy:
    require_gates: bool = True
    require_gate_results: tuple[str, ...] = ()
    require_approval: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None, where: str | None = None) -> Policy:
        section = section or {}
        if not isinstance(section, Mapping):
            raise ConfigError("`registry` must be a mapping", where=where)
        unknown = set(section) - _KEYS
        if unknown:
            raise ConfigError(
                f"unknown key {sorted(unknown)[0]!r} in registry",
                where=where,
                hint=f"keys are: {', '.join(sorted(_KEYS))}",
            )
        gates = section.get("require_gates", True)
        if not isinstance(gates, bool):
            raise ConfigError("registry.require_gates must be true or false", where=where)
        return cls(
            require_gates=gates,
            require_gate_results=_aliases(section.get("require_gate_results"), "require_gate_results", where),
            require_approval=_aliases(section.get("require_approval"), "require_approval", where),
        )

    def check_promotion(
        self,
        version: ModelVersion,
        alias: str,
        approvals: Sequence[ModelEvent],
        *,
        registrant: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Raise CheckFailed when this promotion (by `actor`, of a version `registrant`
        registered) is not allowed; return quietly when it is."""
        label = f"{version.name} version {version.version}"
        if self.require_gates and version.gates_passed is False:
            raise CheckFailed(
                f"{label} failed its gates; it cannot be promoted to {alias}\n"
                + render_gate_report(version.gate_report),
                hint="train a better model, or change the gates in loopline.yaml and evaluate again",
            )
        if alias in self.require_gate_results and version.gates_passed is None:
            raise CheckFailed(
                f"{label} was never gated; {alias} needs a version whose gates passed",
                hint="register the output of an evaluate step that runs the gates",
            )
        self.check_approval(version, alias, approvals, registrant=registrant, actor=actor)

    def check_approval(
        self,
        version: ModelVersion,
        alias: str,
        approvals: Sequence[ModelEvent],
        *,
        registrant: str | None,
        actor: str | None,
        removal: bool = False,
    ) -> None:
        """Four eyes on a protected alias: raise CheckFailed unless an approval of version for
        alias is by someone other than its registrant and the actor making the change."""
        if alias not in self.require_approval:
            return
        label = f"{version.name} version {version.version}"
        verb = f"removing {alias} from {label}" if removal else f"{alias} -> {label}"
        command = f"loopline approve {version.name} {version.version} --alias {alias}"
        command += " --removal" if removal else ""
        if not approvals:
            needs = f"{verb} needs an approval first"
            if not removal:
                needs = f"{label} needs an approval before it can be promoted to {alias}"
            raise CheckFailed(needs, hint=f"an approver runs `{command}`")
        excluded = {who for who in (registrant, actor) if who}
        if any(a.actor not in excluded for a in approvals):
            return
        roles = [f"registered it ({registrant})"] if registrant else []
        roles += [f"makes this change ({actor})"] if actor else []
        approvers = ", ".join(sorted({a.actor for a in approvals}))
        raise CheckFailed(
            f"{verb} needs an approval by someone other than who {' or '.join(roles)}; "
            f"the approvals by {approvers} do not count (four eyes)",
            hint=f"another approver runs `{command}`",
        )


def render_gate_report(report: Mapping[str, Any] | None) -> str:
    """A readable gate report: one line per gate when the report lists them, else its JSON."""
    if not report:
        return "  (no gate report recorded)"
    if isinstance(report.get("failure"), str):
        return "\n".join("  " + line for line in report["failure"].splitlines())
    gates = report.get("gates")
    if isinstance(gates, list) and all(isinstance(g, Mapping) for g in gates):
        lines = []
        for gate in gates:
            status = "passed" if gate.get("passed") else "FAILED"
            rest = {k: v for k, v in gate.items() if k not in ("name", "passed")}
            detail = ", ".join(f"{k}={v}" for k, v in rest.items())
            lines.append(f"  {status:6} {gate.get('name', '?')}" + (f"  ({detail})" if detail else ""))
        return "\n".join(lines)
    return "  " + json.dumps(report, sort_keys=True, default=str)
