"""Serve: a registered model behind HTTP, following its alias, with canary, shadow and a
prediction log that never loses a request; and batch scoring of a dataset."""

from loopline.serve.app import ServeOptions, create_serving_app
from loopline.serve.deployment import Deployment, ModelService, in_canary, load_deployment
from loopline.serve.inputs import InputSpec, RowsRejected
from loopline.serve.recorder import PredictionRecorder

__all__ = [
    "Deployment",
    "InputSpec",
    "ModelService",
    "PredictionRecorder",
    "RowsRejected",
    "ServeOptions",
    "create_serving_app",
    "in_canary",
    "load_deployment",
]
