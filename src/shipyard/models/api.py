"""The registry functions users call, on the current store, or on the team server when a tracking URI is set
(:mod:`.remote`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ..store import current_store
from ..tracking.remote import tracking_server
from . import registry, remote
from .batch import DEFAULT_BATCH_SIZE, BatchResult, predict_file
from .onnx_export import OnnxReport, export_onnx as _export_onnx
from .package import ModelInfo, load_model
from .promote import PromotionDecision, ServerGate, promote
from .registry import AliasEvent, ModelVersion


def register_model(source: str | ModelInfo, name: str, *, description: str | None = None,
                   tags: dict[str, Any] | None = None) -> ModelVersion:
    """Register a logged model as the next version of ``name`` (created on first use).

    Args:
        source: what ``log_model`` returned, a ``runs:/<run_id>/<path>`` URI, or a run id (path ``model``).
        name: the registered model's name, e.g. ``"churn"``.
        description: a note shown with the version.
        tags: labels of the version.

    Returns:
        The new :class:`ModelVersion`; versions count up from 1 per name and are never reused.
    """
    uri = source.uri if isinstance(source, ModelInfo) else source
    if (tracker := tracking_server()) is not None:
        return remote.register(tracker, uri, name, description=description, tags=tags)
    return registry.register_model(current_store(), uri, name, description=description, tags=tags)


def set_alias(name: str, alias: str, version: int, *, reason: str | None = None) -> AliasEvent:
    """Point ``models:/<name>@<alias>`` at ``version``; the move is recorded in the audit log."""
    if (tracker := tracking_server()) is not None:
        return remote.set_alias(tracker, name, alias, version, reason=reason)
    return registry.set_alias(current_store(), name, alias, version, reason=reason)


def delete_alias(name: str, alias: str, *, reason: str | None = None) -> AliasEvent:
    """Remove an alias; the removal is recorded in the audit log."""
    if (tracker := tracking_server()) is not None:
        return remote.delete_alias(tracker, name, alias, reason=reason)
    return registry.delete_alias(current_store(), name, alias, reason=reason)


def get_model_version(name: str, version: int) -> ModelVersion:
    """One registered version with its run, package hash, aliases and tags."""
    if (tracker := tracking_server()) is not None:
        return remote.get_version(tracker, name, version)
    return registry.get_version(current_store(), name, version)


def list_model_versions(name: str) -> list[ModelVersion]:
    """Every version of a registered model, newest first."""
    if (tracker := tracking_server()) is not None:
        return remote.list_versions(tracker, name)
    return registry.list_versions(current_store(), name)


def alias_history(name: str) -> list[AliasEvent]:
    """The audit log of a model's aliases: every move, removal and promotion decision, oldest first."""
    if (tracker := tracking_server()) is not None:
        return remote.alias_history(tracker, name)
    return registry.alias_history(current_store(), name)


def promote_model(name: str, *, candidate: int | str, data: Any, target: str, alias: str = "champion",
                  metric: str = "roc_auc", min_delta: float = 0.0, alpha: float = 0.05,
                  trust: bool | Iterable[str] = (), encoding: str | None = None) -> PromotionDecision:
    """Move ``alias`` to ``candidate`` only if a paired test shows it beats the holder on ``data`` by ``min_delta``.

    The test is one-sided at ``alpha`` on the same rows for both models: DeLong for a binary ROC AUC, McNemar for
    accuracy (without a margin), a seeded paired bootstrap otherwise. A hold-back on a holdout too small to detect
    a gain of ``min_delta`` says so (``too_small_to_tell``, ``rows_needed``) instead of calling the candidate no
    better.

    Args:
        name: the registered model.
        candidate: a version number, or an alias such as ``"challenger"``.
        data: a CSV or Parquet path, or a DataFrame, holding features and the target column.
        target: the target column.
        alias: the alias to win (``"champion"``).
        metric: one of roc_auc, log_loss, accuracy, f1, precision, recall, rmse, mae, r2.
        min_delta: how much better the candidate must be.
        alpha: the one-sided test's level (the chance of promoting a candidate that is not better by min_delta).
        trust: types to trust when loading either model (see :func:`load_model`).
        encoding: the text encoding of a CSV ``data`` file (UTF-8 by default, decoded strictly).

    Returns:
        The :class:`PromotionDecision` with both scores, the test, its ``p_value``, the paired interval of the gain
        (``ci_low``, ``ci_high``) and the ``min_detectable_effect``; it is also in :func:`alias_history`.
    """
    tracker = tracking_server()
    gate = ServerGate(tracker) if tracker is not None else current_store()
    return promote(gate, name, candidate=candidate, alias=alias, data=data, target=target, metric=metric,
                   min_delta=min_delta, alpha=alpha, trust=trust, encoding=encoding)


def predict_batch(uri: str, input: str | os.PathLike[str], output: str | os.PathLike[str], *,
                  batch_size: int = DEFAULT_BATCH_SIZE, id_columns: list[str] | None = None,
                  on_error: str = "fail", trust: bool | Iterable[str] = (),
                  encoding: str | None = None) -> BatchResult:
    """Score a CSV or Parquet file of any size into ``output`` (CSV or Parquet), streaming in batches.

    Args:
        uri: the model, e.g. ``models:/churn@champion``.
        input: the file to score.
        output: where predictions go: id columns, ``prediction`` and one ``proba_<class>`` per class.
        batch_size: rows per batch (memory stays at a few batches).
        id_columns: input columns copied to the output unchanged.
        on_error: ``"fail"`` stops at the first bad row (naming row and column); ``"skip"`` leaves bad rows
            out and lists them in ``<output>.errors.csv``.
        trust: see :func:`load_model`.
        encoding: the text encoding of a CSV input (UTF-8 by default, decoded strictly: a byte that is not
            text fails naming its row and byte offset), e.g. ``"latin-1"``.
    """
    model = load_model(uri, trust=trust)
    return predict_file(model, input, output, batch_size=batch_size, id_columns=id_columns, on_error=on_error,
                        encoding=encoding)


def export_onnx(uri: str, output: str | os.PathLike[str], *, tolerance: float = 1e-5, attach: bool = True,
                trust: bool | Iterable[str] = ()) -> OnnxReport:
    """Convert a scikit-learn pipeline to ONNX, verified against the Python model before anything is written.

    Raises:
        VerificationError: labels differ or probabilities differ by more than ``tolerance`` on some rows
            (listed in ``mismatches``).
        ValidationError: a step cannot be converted (the message names it).
    """
    source = tracking_server() or current_store()
    return _export_onnx(source, uri, output, tolerance=tolerance, attach=attach, trust=trust)

