"""Real PyTorch networks trained on scikit-learn's breast cancer table (569 rows, 30 features) on the CPU.

Every network is trained full-batch with Adam from a fixed seed in well under a second. ``TORCH_MODELS`` builds
one fitted model per kind the torch flavor stores: each entry gives (model to log, input example, y_example).
Importing this module needs torch: test modules call ``pytest.importorskip("torch", reason=...)`` before it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

EPOCHS = 60


@cache
def _cancer() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_breast_cancer

    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    return features.rename(columns=lambda name: name.replace(" ", "_")), target  # ONNX input names have no spaces


def cancer() -> tuple[pd.DataFrame, pd.Series]:
    features, target = _cancer()
    return features.copy(), target.copy()


def _fit(net: nn.Module, inputs: torch.Tensor, target: torch.Tensor, loss: Callable[..., torch.Tensor]) -> nn.Module:
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(EPOCHS):
        optimizer.zero_grad()
        loss(net(inputs), target).backward()
        optimizer.step()
    return net


def _scaled() -> tuple[Any, torch.Tensor]:
    from sklearn.preprocessing import StandardScaler

    features, _ = cancer()
    scaler = StandardScaler().fit(features)
    return scaler, torch.tensor(scaler.transform(features), dtype=torch.float32)


def _network(outputs: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, outputs))


def softmax_pipeline() -> tuple[Any, pd.DataFrame, pd.Series]:
    """A StandardScaler (skops) in front of a two-logit network trained with cross-entropy."""
    from sklearn.pipeline import Pipeline

    features, target = cancer()
    scaler, inputs = _scaled()
    net = _fit(_network(2), inputs, torch.tensor(target.to_numpy()), nn.functional.cross_entropy)
    return Pipeline([("scale", scaler), ("net", net)]), features, target


def sigmoid_tensor() -> tuple[Any, torch.Tensor, torch.Tensor]:
    """A one-logit network trained with BCE on a scaled tensor, logged with tensors (float 0./1. labels)."""
    _, inputs = _scaled()
    labels = torch.tensor(cancer()[1].to_numpy(), dtype=torch.float32).reshape(-1, 1)
    net = _fit(_network(1), inputs, labels, nn.functional.binary_cross_entropy_with_logits)
    return net, inputs, labels.reshape(-1)


def sigmoid_pipeline() -> tuple[Any, pd.DataFrame, pd.Series]:
    """The one-logit network of :func:`sigmoid_tensor` behind the same StandardScaler, taking the table."""
    from sklearn.pipeline import Pipeline

    features, target = cancer()
    scaler, _ = _scaled()
    return Pipeline([("scale", scaler), ("net", TORCH_MODELS["sigmoid-tensor"]()[0])]), features, target


def regressor() -> tuple[Any, np.ndarray, None]:
    """A network predicting the mean radius from the 29 other (scaled) features, logged with an array."""
    _, inputs = _scaled()
    net = _fit(nn.Sequential(nn.Linear(29, 8), nn.Tanh(), nn.Linear(8, 1)), inputs[:, 1:], inputs[:, :1],
               nn.functional.mse_loss)
    return net, inputs[:, 1:].numpy(), None


def _trained_once(build: Callable[[], tuple[Any, Any, Any]]) -> Callable[[], tuple[Any, Any, Any]]:
    """``build`` run once per process; each call gets its own copy (tests switch modes, change weights)."""
    trained = cache(build)
    return lambda: copy.deepcopy(trained())


TORCH_MODELS: dict[str, Callable[[], tuple[Any, Any, Any]]] = {
    "softmax-pipeline": _trained_once(softmax_pipeline),
    "sigmoid-tensor": _trained_once(sigmoid_tensor),
    "regressor": _trained_once(regressor),
}
TORCH_MODELS["sigmoid-pipeline"] = sigmoid_pipeline


def network_answers(model: Any, example: Any, *, classifier: bool = True) -> dict[str, np.ndarray]:
    """What the network itself answers on ``example`` (eval mode), as Shipyard's convention reads it: softmax or
    sigmoid probabilities and the class of the highest for classifiers, the output for a regressor."""
    steps = getattr(model, "steps", None)
    net = steps[-1][1] if steps else model
    features = model[:-1].transform(example) if steps else example
    net.eval()
    with torch.inference_mode():
        raw = net(torch.as_tensor(np.asarray(features), dtype=torch.float32)).numpy().astype("float64")
    if not classifier:
        return {"predict": raw.reshape(-1)}
    if raw.shape[1] == 1:
        positive = 1.0 / (1.0 + np.exp(-raw))
        proba = np.hstack((1.0 - positive, positive))
    else:
        shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
        proba = shifted / shifted.sum(axis=1, keepdims=True)
    return {"predict": proba.argmax(axis=1), "predict_proba": proba}
