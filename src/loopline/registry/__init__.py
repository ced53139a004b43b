"""The catalogue: registered models, versions, aliases and the promotion policy.

Records and storage live in loopline.store (metadata/registry.py, models.py); this package holds
the rules: which promotions the policy allows, how a signature and a model card are made.
"""

from loopline.registry.card import CardHook, assemble, card_markdown
from loopline.registry.catalogue import Registry, VersionRef
from loopline.registry.policy import DEFAULT_ALIASES, Policy, render_gate_report
from loopline.registry.signature import check_signature, infer_signature
from loopline.store.metadata.registry import ModelEvent, ModelVersion
from loopline.store.metadata.summaries import RegisteredModel, VersionSummary

__all__ = [
    "DEFAULT_ALIASES",
    "CardHook",
    "ModelEvent",
    "ModelVersion",
    "Policy",
    "RegisteredModel",
    "Registry",
    "VersionRef",
    "VersionSummary",
    "assemble",
    "card_markdown",
    "check_signature",
    "infer_signature",
    "render_gate_report",
]
