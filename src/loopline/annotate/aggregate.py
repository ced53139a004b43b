"""Crowd consensus: one label per task from several annotators' answers, with its confidence and
each annotator's estimated skill.

Methods (`aggregate(answers, labels, method=...)`):

- ``majority``: (weighted) vote shares. Confidence is the winning share; skill is the share of
  an annotator's answers that match the consensus.
- ``dawid_skene``: a full confusion matrix per annotator, EM from the majority vote (the model
  crowd-kit fits; see `_dawid_skene`). Skill is the expected accuracy sum_k prior_k * P(k | k).
- ``glad``: annotator ability and task difficulty (see `_glad`). Skill is the expected accuracy
  on the tasks the annotator answered.

`weights` maps annotator -> weight (>= 0; an annotator not in it weighs 1): its votes for the
majority; for the models, the weight of each of its answers in the likelihood, so 0 excludes
the annotator from the fit (its skill is then the model's uninformed value, e.g. 1/K for
Dawid-Skene). `ties` says what a task whose top labels tie gets: ``random`` (default) one of
them drawn with `seed`, by task in sorted order: no label is favoured (the first label, or the
most frequent, would be: the label annotators pick most often is also the likeliest mistake),
the same seed gives the same labels, and row order does not matter; ``smallest`` the tied label
whose name sorts first (reproducible without a seed; crowd-kit's MajorityVote takes whichever
tied label comes first in its pandas columns, an order set by the data's value counts);
``abstain`` no label (null, the task left out of the labels artifact). Tasks and annotators
come out sorted.

`gold` (task -> known label) clamps those tasks to their label: in every EM step for the
models, and as the consensus for the majority (so skills are measured against it too). Gold
for a task nobody answered is ignored. Repeated answers of one annotator to one task count as
separate answers (each repeat is one more vote, one more count in an annotator's confusion
matrix, one more factor in GLAD's likelihood), as crowd-kit counts them. Every method is
deterministic: the fits start from the majority vote (Dawid-Skene) or fixed values (GLAD), and
`seed` only breaks ties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from loopline.annotate import _dawid_skene, _glad
from loopline.annotate._crowd import Crowd, encode, pick_seeded, tied_top
from loopline.core.errors import InvalidInput

METHODS = ("majority", "dawid_skene", "glad")
TIES = ("random", "smallest", "abstain")

__all__ = ["METHODS", "TIES", "Aggregated", "aggregate"]


@dataclass(frozen=True)
class Aggregated:
    # columns: task, label, confidence (posterior of the chosen label), n (answers), method
    labels: pl.DataFrame
    # columns: annotator, skill (estimated accuracy in [0,1]), n (answers)
    skills: pl.DataFrame
    # task + one column per label (probabilities), when the method has them
    posteriors: pl.DataFrame | None = None
    iterations: int = 0  # EM iterations (Dawid-Skene) or L-BFGS iterations (GLAD); 0 for majority


def check_method(method: str) -> None:
    """InvalidInput for an unknown method: asked before the answers are read, so a typo is
    reported as such even on a project without answers."""
    if method not in METHODS:
        raise InvalidInput(f"unknown aggregation method {method!r}", hint=f"use one of {', '.join(METHODS)}")


def aggregate(
    answers: pl.DataFrame,
    labels: Sequence[str],
    method: str = "dawid_skene",
    *,
    weights: Mapping[str, float] | None = None,
    gold: Mapping[Any, str] | None = None,
    max_iter: int = 100,
    tol: float = 1e-5,
    seed: int = 0,
    ties: str = "random",
) -> Aggregated:
    """Consensus labels, confidences and annotator skills from a frame of answers.

    `answers` has one row per answer with columns task (str or int id), annotator, label; other
    columns are ignored. `max_iter` caps the EM iterations of Dawid-Skene (stopping earlier when
    the evidence lower bound per answer gains less than `tol`) and, times 10, the L-BFGS
    iterations of GLAD (stopping when the log posterior per answer gains less than about `tol`).
    Raises InvalidInput for a missing column, a null, a label outside `labels`, an unknown
    method or a negative weight.
    """
    check_method(method)
    if ties not in TIES:
        raise InvalidInput(f"unknown tie rule {ties!r}", hint=f"use one of {', '.join(TIES)}")
    if max_iter < 1:
        raise InvalidInput(f"max_iter must be at least 1, got {max_iter}")
    if not tol > 0:
        raise InvalidInput(f"tol must be a number > 0, got {tol}")
    crowd = encode(answers, labels, gold)
    if weights is not None:
        crowd = replace(crowd, weight=_answer_weights(crowd, weights))
    share = _vote_shares(crowd)
    if method == "majority":
        probas = crowd.clamp(share)
        chosen = _choose(crowd, probas, ties, seed)
        hits = (chosen[crowd.t] == crowd.l).astype(np.float64)
        skill = np.bincount(crowd.w, weights=hits, minlength=crowd.n_annotators).astype(np.float64)
        skill /= np.maximum(crowd.annotator_counts(), 1)
        return _result(crowd, method, probas, chosen, skill, 0)
    if method == "dawid_skene":
        ds = _dawid_skene.fit(crowd, share, max_iter=max_iter, tol=tol)
        chosen = _choose(crowd, ds.probas, ties, seed)
        return _result(crowd, method, ds.probas, chosen, ds.skills(), ds.iterations)
    gl = _glad.fit(crowd, max_iter=max_iter, tol=tol)
    chosen = _choose(crowd, gl.probas, ties, seed)
    return _result(crowd, method, gl.probas, chosen, gl.skills(crowd), gl.iterations)


def _choose(crowd: Crowd, probas: np.ndarray, ties: str, seed: int) -> np.ndarray:
    """The label code per task under the tie rule; -1 where `abstain` leaves a tie unlabelled."""
    if ties == "random":
        return pick_seeded(probas, seed)
    tied = tied_top(probas)
    if ties == "abstain":
        return np.where(tied.sum(axis=1) > 1, -1, np.argmax(probas, axis=1))
    by_name = np.argsort(np.array(crowd.labels, dtype=object))  # label codes, names ascending
    first = np.argmax(tied[:, by_name], axis=1)
    return by_name[first]


def _answer_weights(crowd: Crowd, weights: Mapping[str, float] | None) -> np.ndarray | None:
    if weights is None:
        return None
    names = crowd.annotators.to_list()
    per_annotator = np.array([float(weights.get(name, 1.0)) for name in names], dtype=np.float64)
    bad = ~np.isfinite(per_annotator) | (per_annotator < 0)
    if bad.any():
        name = names[int(np.flatnonzero(bad)[0])]
        raise InvalidInput(
            f"weight {weights[name]!r} of annotator {name!r} is not a finite number >= 0",
            hint="use 0 to exclude an annotator",
        )
    return per_annotator[crowd.w]


def _vote_shares(crowd: Crowd) -> np.ndarray:
    """Per task, each label's share of the (weighted) votes; uniform where all weights are 0."""
    votes = crowd.votes()
    total = votes.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0
    votes[empty] = 1.0
    total[empty] = crowd.n_labels
    return votes / total


def _result(
    crowd: Crowd,
    method: str,
    probas: np.ndarray,
    chosen: np.ndarray,
    skill: np.ndarray,
    iterations: int,
) -> Aggregated:
    abstained = chosen < 0
    top = np.argmax(probas, axis=1)  # an abstention's confidence: the tied labels' share
    confidence = probas[np.arange(crowd.n_tasks), np.where(abstained, top, chosen)]
    label_names = pl.Series("label", crowd.labels, dtype=pl.String)
    picked = label_names.gather(np.where(abstained, 0, chosen))
    if abstained.any():
        picked = picked.scatter(np.flatnonzero(abstained), None)
    table = pl.DataFrame(
        {
            "task": crowd.tasks,
            "label": picked,
            "confidence": np.clip(confidence, 0.0, 1.0),
            "n": crowd.task_counts().astype(np.int64),
        }
    ).with_columns(method=pl.lit(method, dtype=pl.String))
    skills = pl.DataFrame(
        {
            "annotator": crowd.annotators,
            "skill": np.clip(skill, 0.0, 1.0),
            "n": crowd.annotator_counts().astype(np.int64),
        }
    )
    posteriors = pl.DataFrame(
        [crowd.tasks, *(pl.Series(name, probas[:, j]) for j, name in enumerate(crowd.labels))]
    )
    return Aggregated(labels=table, skills=skills, posteriors=posteriors, iterations=iterations)
