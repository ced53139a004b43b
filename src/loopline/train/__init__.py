"""Train and tune: any scikit-learn-compatible estimator by import path, LightGBM when installed,
a custom trainer function, and Optuna search on the train and validation splits.

As steps in loopline.yaml::

    steps:
      train:
        uses: loopline.train:fit
        inputs: [train]                    # optional: validation, with `metric:` to log its score
        params:
          estimator: sklearn.linear_model:LogisticRegression   # the default
          params: {C: 1.0, max_iter: 500}
          target: label                    # the default
          # features: [a, b]               # default: every numeric column but the target and `_…`
          # trainer: mypackage.training:fit  # instead of `estimator`: fit(X, y, params, seed)
        outputs: [model]
      tune:
        uses: loopline.train:tune
        inputs: [train, validation]
        params:
          estimator: sklearn.linear_model:LogisticRegression
          space:
            C: {type: float, low: 0.001, high: 10, log: true}
            penalty: {type: categorical, choices: [l2]}
          params: {max_iter: 500}          # fixed, not searched
          metric: f1_macro                 # a scikit-learn scorer name; greater is better
          n_trials: 30
          # n_jobs: 2                      # trials 2 at a time, in threads; still reproducible
          # timeout: 600                   # seconds; bounds the search but not reproducibly
          # cv: 3                          # prune by folds of train, or
          # epochs: 20                     # by epochs, for an estimator with partial_fit
          # experiment: digits-tuning      # where the trials are tracked (default: the step name)
        outputs: [model, report]

The fitted model is returned to the step layer, which stores it as a model artifact (skops).
Mistakes (a label column missing from the table, a search space naming a param the estimator
does not have, an estimator that cannot be imported) are ConfigErrors raised by the steps'
`check` hooks before anything trains.
"""

from __future__ import annotations

from loopline.train._fit import check_fit, fit
from loopline.train._spec import Dimension, parse_space
from loopline.train._tune import check_tune, tune

__all__ = ["Dimension", "check_fit", "check_tune", "fit", "parse_space", "tune"]
