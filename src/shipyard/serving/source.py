"""Where a server's models come from: the store it opens, or a team server (``SHIPYARD_TRACKING_URI``).

The fleet (:mod:`.fleet`) asks the same few things of either: what an alias points at now, a loaded runner of a
fixed version, the running rollouts, the bandit posteriors of ``routing: thompson`` deployments, and (for those)
to count labelled rewards. :class:`StoreSource` reads and writes the store as Shipyard always did;
:class:`~shipyard.serving.remote_source.ServerSource` asks the team server, so a serving pod needs no database
and no object-store credentials, only the server's address and a token. The prediction log is neither: it is
``log_dir`` (a folder or ``s3://``) either way.

Each source also says how a spawned worker opens the same source again (:attr:`ModelSource.reopen`: a
:class:`~shipyard.store.location.StoreLocation`, or the server's address and token), since a worker inherits no
connection.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..models import registry
from ..models.bandits import ArmState, Reward, ScoreSums, arm_states, record_rewards, record_scores
from ..models.labelled_reference import confidence_map
from ..models.onnx_export import read_attached_onnx
from ..models.package import load_model
from ..models.rollouts import Rollout, running_rollouts
from ..predlog.layout import serving_root
from .runtime import Runner, build_runner

if TYPE_CHECKING:
    from ..calibration import Calibration
    from ..predlog.location import LogPath
    from ..store import Store
    from ..store.location import StoreLocation


@dataclass(frozen=True)
class ServerAddress:
    """How a spawned worker reaches the team server again (the token travels through the spawn pipe, not argv)."""

    url: str
    token: str | None


@dataclass(frozen=True)
class Resolved:
    """What a model URI names now: the fixed URI (``models:/churn/3``, or the ``runs:/`` URI itself), and whether
    that registered version has a verified ONNX export attached."""

    uri: str
    has_onnx: bool


class ModelSource(Protocol):
    """What a serving fleet needs of the place its models are registered (see the module docstring)."""

    @property
    def where(self) -> str:
        """The source in words, for messages ("the store at ...", "the team server http://...")."""
        ...

    @property
    def reopen(self) -> StoreLocation | ServerAddress:
        """What a spawned worker opens to reach this same source (picklable)."""
        ...

    def resolve(self, uri: str) -> Resolved:
        """The version ``uri`` names now (NotFoundError for an unknown model, alias or version)."""
        ...

    def load_runner(self, uri: str, runtime: str, *, trust: bool | Iterable[str]) -> Runner:
        """The fixed version ``uri`` loaded for ``runtime``, every file verified against its recorded hash."""
        ...

    def confidence_map(self, uri: str) -> Calibration | None:
        """The version's stated confidence -> P(correct) map, from the labelled reference the gate kept with it
        (None without one), for a ``routing: thompson`` deployment's scores (``.scores``)."""
        ...

    def running_rollouts(self) -> list[Rollout]:
        """The canary rollouts running now."""
        ...

    def arm_states(self, deployments: list[str]) -> dict[str, dict[str, ArmState]]:
        """deployment -> variant -> its reward sums (variants never labelled are absent)."""
        ...

    def record_rewards(self, deployment: str, rewards: list[Reward]) -> int:
        """Count the rewards not counted yet (once per request id and row); returns how many were new."""
        ...

    def record_scores(self, deployment: str, scores: dict[str, ScoreSums]) -> None:
        """Add answered predictions' scores (variant -> sums) to the provisional evidence (``.scores``)."""
        ...

    def log_root(self, log_dir: str | None) -> LogPath:
        """The folder (or ``s3://`` prefix) the prediction, feedback and error logs go under."""
        ...


class StoreSource:
    """The models of a store this process opens (a folder, or a database and objects named by the environment)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def where(self) -> str:
        return f"the store {self.store.location.describe()}"

    @property
    def reopen(self) -> StoreLocation:
        return self.store.location  # every part, so a worker opens the same store (a folder with objects on S3 too)

    def resolve(self, uri: str) -> Resolved:
        version, _, _ = registry.resolve(self.store, uri)
        if version is None:
            return Resolved(uri, False)
        return Resolved(version.uri, "onnx.hash" in version.tags)

    def load_runner(self, uri: str, runtime: str, *, trust: bool | Iterable[str]) -> Runner:
        started = time.perf_counter()
        return build_runner(load_model(uri, trust=trust), runtime, lambda: read_attached_onnx(self.store, uri),
                            started)

    def confidence_map(self, uri: str) -> Calibration | None:
        return confidence_map(self.store, uri)

    def running_rollouts(self) -> list[Rollout]:
        return running_rollouts(self.store)

    def arm_states(self, deployments: list[str]) -> dict[str, dict[str, ArmState]]:
        return arm_states(self.store, deployments)

    def record_rewards(self, deployment: str, rewards: list[Reward]) -> int:
        return record_rewards(self.store, deployment, rewards)

    def record_scores(self, deployment: str, scores: dict[str, ScoreSums]) -> None:
        record_scores(self.store, deployment, scores)

    def log_root(self, log_dir: str | None) -> LogPath:
        return serving_root(self.store, log_dir)
