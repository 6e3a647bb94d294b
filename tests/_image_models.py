"""Small convolutional networks on scikit-learn's bundled digits (1,797 images of 8x8 pixels, 10 classes), on the CPU.

Each network trains on the first 600 images from a fixed seed in a second or two. ``digits_torch()`` gives a torch
network on ``(N, 1, 8, 8)`` images (channels first), ``digits_keras()`` a Keras network on ``(N, 8, 8, 1)`` images
(channels last, as Keras has them); each with every image (float32, pixels scaled to 0..1) and label. Importing this
module needs neither library: each builder imports its own, so test modules skip with a reason first.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

EPOCHS = 20
TRAIN_ROWS = 600  # the first images train; every image scores
TORCH_SHAPE = (1, 8, 8)
KERAS_SHAPE = (8, 8, 1)


@cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    return (images / 16.0).astype("float32").reshape(-1, 8, 8), labels.astype("int64")


def digits(channels_first: bool) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels): ``(N, 1, 8, 8)`` with ``channels_first``, else ``(N, 8, 8, 1)``; fresh copies."""
    images, labels = _digits()
    shape = TORCH_SHAPE if channels_first else KERAS_SHAPE
    return images.reshape(-1, *shape).copy(), labels.copy()


def digits_torch() -> tuple[Any, np.ndarray, np.ndarray]:
    """A conv -> pool -> linear network answering 10 logits, trained with cross-entropy (Adam, full batch)."""
    import torch
    from torch import nn

    images, labels = digits(channels_first=True)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 4 * 4, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    inputs, target = torch.from_numpy(images[:TRAIN_ROWS]), torch.from_numpy(labels[:TRAIN_ROWS])
    for _ in range(EPOCHS):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(inputs), target).backward()
        optimizer.step()
    return net.eval(), images, labels


def digits_keras() -> tuple[Any, np.ndarray, np.ndarray]:
    """A Conv2D -> pool -> softmax network on channels-last images (Keras on torch, imported through Shipyard)."""
    from shipyard.models.keras_flavor import import_keras

    keras = import_keras("The image tests")
    images, labels = digits(channels_first=False)
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input(KERAS_SHAPE), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                            keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                            keras.layers.Dense(10, activation="softmax")])
    net.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    net.fit(images[:TRAIN_ROWS], labels[:TRAIN_ROWS], epochs=EPOCHS, batch_size=TRAIN_ROWS, verbose=0)
    return net, images, labels
