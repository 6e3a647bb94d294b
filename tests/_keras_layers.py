"""A custom Keras layer registered for serialization: code the .keras format names by module and class, which
Shipyard lists as a type to trust. Importing this module imports Keras through Shipyard (torch backend)."""

from __future__ import annotations

from typing import Any

from shipyard.models.keras_flavor import import_keras

keras = import_keras("The Keras tests' custom layer")


@keras.saving.register_keras_serializable(package="shipyard_tests")
class Scale(keras.layers.Layer):  # type: ignore[misc]
    """Multiplies its input by a fixed factor."""

    def __init__(self, factor: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs: Any) -> Any:
        return inputs * self.factor

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


def scaled_network(width: int) -> Any:
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((width,)), Scale(0.5), keras.layers.Dense(1)])
