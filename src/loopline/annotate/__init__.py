"""Annotate: labeling projects on a dataset (tasks, a leased queue, gold tasks), crowd
aggregation and agreement, and the labels artifact. Stage code here is pure; the queue's storage
lives in store/metadata/annotations.py behind `store.contracts.AnnotationRepository`."""

__all__: list[str] = []  # nothing here: the modules are imported by name
