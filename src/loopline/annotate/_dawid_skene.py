"""Dawid-Skene (1979): one full confusion matrix per annotator, fitted by EM.

The same model, initialisation (majority-vote shares), error floor, stopping rule and gold
clamping as crowd-kit's `DawidSkene`, so the oracle test can ask for the same labels; the work is
two sparse products per iteration instead of pandas joins and group-bys. With A the (tasks x
annotators*labels) answer counts and E the stacked log confusion matrices:

    E-step:  log p(z_t = k) = log prior_k + (A @ log E)[t, k], then normalised per task
    M-step:  E[w, l, k] ∝ (A.T @ P)[w*K + l, k], normalised over the given label l
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loopline.annotate._crowd import Crowd, row_max, row_sum

EPS = 1e-10  # crowd-kit's floor on error rates and priors


@dataclass(frozen=True)
class DawidSkeneFit:
    probas: np.ndarray  # (tasks, K) posteriors
    priors: np.ndarray  # (K,)
    errors: np.ndarray  # (annotators, K given, K true): P(given | true)
    iterations: int

    def skills(self) -> np.ndarray:
        """Expected accuracy of each annotator: sum_k prior_k * P(answer k | true k)."""
        diag = np.diagonal(self.errors, axis1=1, axis2=2)
        return diag @ self.priors


def _m_step(counts_t: object, probas: np.ndarray, crowd: Crowd) -> np.ndarray:
    w, k = crowd.n_annotators, crowd.n_labels
    errors = np.asarray(counts_t @ probas).reshape(w, k, k)
    np.clip(errors, EPS, None, out=errors)
    errors /= errors.sum(axis=1, keepdims=True)
    return errors


def _e_step(loglik: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Posteriors from `loglik` = A @ log E (tasks x K) and the class priors."""
    scores = loglik + np.log(np.clip(priors, EPS, None))
    scores -= row_max(scores)
    probas = np.exp(scores)
    probas /= row_sum(probas)
    return probas


def _elbo(loglik: np.ndarray, n_per_task: np.ndarray, probas: np.ndarray, priors: np.ndarray) -> float:
    """crowd-kit's evidence lower bound (its prior term counted once per answer), per answer."""
    joint = float(np.sum(probas * loglik))
    joint += float(np.dot(probas.T @ n_per_task, np.log(np.clip(priors, EPS, None))))
    clipped = np.clip(probas, EPS, None)
    entropy = -float(np.sum(np.log(clipped) * clipped))
    return (joint + entropy) / max(float(n_per_task.sum()), 1.0)


def fit(crowd: Crowd, init: np.ndarray, max_iter: int = 100, tol: float = 1e-5) -> DawidSkeneFit:
    """EM from `init` (tasks x K posteriors, e.g. majority-vote shares); gold tasks stay clamped.

    A @ log E is computed once per iteration: the bound after an M-step and the next E-step
    both need it."""
    counts = crowd.by_task_answer()
    counts_t = counts.T.tocsr()
    n_per_task = np.asarray(counts.sum(axis=1)).ravel()
    k = crowd.n_labels
    probas = crowd.clamp(init.astype(np.float64, copy=True))
    priors = probas.mean(axis=0)
    errors = _m_step(counts_t, probas, crowd)
    loglik = np.asarray(counts @ np.log(errors).reshape(-1, k))
    loss = -np.inf
    iterations = 0
    for _ in range(max_iter):
        iterations += 1
        probas = crowd.clamp(_e_step(loglik, priors))
        priors = probas.mean(axis=0)
        errors = _m_step(counts_t, probas, crowd)
        loglik = np.asarray(counts @ np.log(errors).reshape(-1, k))
        new_loss = _elbo(loglik, n_per_task, probas, priors)
        if new_loss - loss < tol:
            break
        loss = new_loss
    return DawidSkeneFit(probas=probas, priors=priors, errors=errors, iterations=iterations)
