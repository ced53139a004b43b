"""GLAD (Whitehill et al., 2009): annotator ability alpha, task easiness exp(beta), fitted by EM.

An answer is right with probability sigma(alpha_w * exp(beta_t)); a wrong answer is any other
label, uniformly. Priors alpha ~ N(1, 1), beta ~ N(1, 1) and uniform class priors, as in
crowd-kit's `GLAD`. Instead of EM's alternation, L-BFGS (SciPy)
climbs the log posterior of all alphas and betas with the true labels summed out: its value and
gradient are one E-step's worth of NumPy passes over the answers (bincounts, no Python loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from threadpoolctl import threadpool_limits

from loopline.annotate._crowd import Crowd, row_max, row_sum

LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclass(frozen=True)
class GladFit:
    probas: np.ndarray  # (tasks, K) posteriors
    alphas: np.ndarray  # (annotators,) ability
    betas: np.ndarray  # (tasks,) log easiness
    iterations: int

    def skills(self, crowd: Crowd) -> np.ndarray:
        """Expected accuracy of each annotator on the tasks it answered: mean sigma(alpha exp(beta))."""
        right = expit(self.alphas[crowd.w] * np.exp(self.betas[crowd.t]))
        total = np.bincount(crowd.w, weights=right, minlength=crowd.n_annotators)
        return total / np.maximum(crowd.annotator_counts(), 1)


def _log_sigmoids(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log sigma(z), log(1 - sigma(z)) and sigma(z), stable for any z, with one exp and one log."""
    e = np.exp(-np.abs(z))
    soft = np.log1p(e)
    pos = z >= 0
    log_right = np.where(pos, 0.0, z) - soft
    log_wrong = np.where(pos, -z, 0.0) - soft
    sigma = np.where(pos, 1.0, e) / (1.0 + e)
    return log_right, log_wrong, sigma


class _Glad:
    """The log posterior of (alpha, beta) with the true labels summed out, and its gradient."""

    def __init__(self, crowd: Crowd, alpha_mean: float = 1.0, beta_mean: float = 1.0) -> None:
        self.crowd = crowd
        self.k = crowd.n_labels
        self.log_k1 = np.log(max(self.k - 1, 1))
        self.n_w = crowd.n_annotators
        self.alpha_mean = alpha_mean
        self.beta_mean = beta_mean
        self.log_prior = np.full(self.k, -np.log(self.k))
        self.known = crowd.gold >= 0
        self.evaluations = 0

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[: self.n_w], x[self.n_w :]

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]:
        """Task posteriors (gold clamped), the log evidence, and per answer exp(beta), z, sigma(z)."""
        c = self.crowd
        alphas, betas = self.split(x)
        easy = np.exp(betas[c.t])
        z = alphas[c.w] * easy
        log_right, log_wrong, sigma = _log_sigmoids(z)
        base = log_wrong - self.log_k1  # every label not given gets this
        n, k = c.n_tasks, self.k
        given = c.weighted(log_right - base)
        loglik = np.bincount(c.t * k + c.l, weights=given, minlength=n * k).reshape(n, k)
        loglik += np.bincount(c.t, weights=c.weighted(base), minlength=n)[:, None]
        loglik += self.log_prior
        if self.known.any():  # a gold task's evidence is that of its known label
            loglik[self.known] = np.where(
                np.arange(k) == c.gold[self.known][:, None], loglik[self.known], -np.inf
            )
        top = row_max(loglik)
        probas = np.exp(loglik - top)
        total = row_sum(probas)
        probas /= total
        evidence = float(np.sum(np.log(total) + top))
        return probas, evidence, easy, z, sigma

    def objective(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Minus the log posterior and its gradient (Fisher's identity: the gradient of the
        expected complete log-likelihood at the current posteriors)."""
        self.evaluations += 1
        c = self.crowd
        probas, evidence, easy, z, sigma = self.posterior(x)
        alphas, betas = self.split(x)
        da, db = alphas - self.alpha_mean, betas - self.beta_mean
        value = evidence - 0.5 * (float(np.dot(da, da)) + float(np.dot(db, db))) - LOG_SQRT_2PI * len(x)
        g = c.weighted(probas[c.t, c.l] - sigma)  # d/dz per answer
        grad_a = np.bincount(c.w, weights=g * easy, minlength=self.n_w)
        grad_b = np.bincount(c.t, weights=g * z, minlength=c.n_tasks)
        return -value, -np.concatenate([grad_a - da, grad_b - db])


def fit(crowd: Crowd, max_iter: int = 100, tol: float = 1e-5) -> GladFit:
    """L-BFGS on the log posterior from alpha = beta = 1 (crowd-kit's start); stops when the log
    posterior per answer gains less than about `tol` per iteration or after `max_iter` iterations.
    EM would climb the same surface: same optimum, many more passes over the answers."""
    model = _Glad(crowd)
    x0 = np.ones(crowd.n_annotators + crowd.n_tasks)
    scale = max(len(crowd.t), 1)
    f0 = abs(model.objective(x0)[0])
    # L-BFGS works with BLAS level-1 calls on vectors of a few 10,000s: threads only add
    # synchronisation (50x slower on a busy 2-core machine), so BLAS runs single-threaded here.
    with threadpool_limits(1, user_api="blas"):
        res = minimize(
            model.objective,
            x0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter * 10, "ftol": tol * scale / max(f0, 1.0), "gtol": 1e-6},
        )
    probas = model.posterior(res.x)[0]
    alphas, betas = model.split(res.x)
    return GladFit(probas=probas, alphas=alphas, betas=betas, iterations=int(res.nit))
