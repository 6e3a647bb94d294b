"""Serving through a team server: models resolved, downloaded and refreshed over its API, never from a store.

Aliases are resolved by the server (``GET /models/resolve``); packages and their attached ONNX exports are
downloaded through :mod:`shipyard.models.remote`'s content-addressed cache, each file verified against the hash the
server vouched for (a damaged cache entry is fetched again). Rollouts and the bandit posteriors are read from
``/serving/rollouts`` and ``/serving/bandits``; labelled rewards of a ``routing: thompson`` deployment are sent to
``/serving/rewards``, which counts each (request id, row) once however often it arrives, so a retry is harmless; each
beat's prediction scores go to ``/serving/scores`` with an idempotency key, since sums are added.
A reader token serves; a ``routing: thompson`` deployment needs a writer token, since its labels write rewards.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import ConfigError
from ..models import remote
from ..models.bandits import ArmState, Reward, ScoreSums
from ..models.labelled_reference import confidence_map
from ..models.onnx_export import read_attached_onnx
from ..models.package import build_model, fetch_package
from ..models.rollouts import Rollout
from ..predlog.layout import LOG_DIR_ENV
from ..predlog.location import open_folder
from ..store.http_client import new_key
from ..tracking.remote import RemoteTracker
from .runtime import Runner, build_runner
from .source import Resolved, ServerAddress

if TYPE_CHECKING:
    from ..calibration import Calibration
    from ..predlog.location import LogPath

SERVING_API = "/api/shipyard/v1/serving"


class ServerSource:
    """The models of the team server at ``url`` (see the module docstring)."""

    def __init__(self, url: str, token: str | None) -> None:
        self.tracker = RemoteTracker(url, token)
        self._token = token

    @property
    def where(self) -> str:
        return f"the team server {self.tracker.url}"

    @property
    def reopen(self) -> ServerAddress:
        return ServerAddress(self.tracker.url, self._token)

    def resolve(self, uri: str) -> Resolved:
        version, _, _ = remote.resolve(self.tracker, uri)
        if version is None:
            return Resolved(uri, False)
        return Resolved(version.uri, "onnx.hash" in version.tags)

    def load_runner(self, uri: str, runtime: str, *, trust: bool | Iterable[str]) -> Runner:
        started = time.perf_counter()
        package, _ = fetch_package(self.tracker, uri)
        loaded = build_model(package, trust=trust)
        return build_runner(loaded, runtime, lambda: read_attached_onnx(self.tracker, uri), started)

    def confidence_map(self, uri: str) -> Calibration | None:
        return confidence_map(self.tracker, uri)  # the reference artifact, hash-checked through the verified cache

    def running_rollouts(self) -> list[Rollout]:
        answer = self.tracker.client.call("GET", f"{SERVING_API}/rollouts")
        return [rollout_from_json(item) for item in answer["rollouts"]]

    def arm_states(self, deployments: list[str]) -> dict[str, dict[str, ArmState]]:
        return server_arm_states(self.tracker, deployments)

    def record_rewards(self, deployment: str, rewards: list[Reward]) -> int:
        if not rewards:
            return 0
        body = {"deployment": deployment, "rewards": [asdict(item) for item in rewards]}
        answer = self.tracker.client.call("POST", f"{SERVING_API}/rewards", body)
        return int(answer["added"])

    def record_scores(self, deployment: str, scores: dict[str, ScoreSums]) -> None:
        scores = {variant: sums for variant, sums in scores.items() if sums.count}
        if scores:  # sums are added, not set: the key makes a retry after a lost answer count once
            body = {"deployment": deployment, "scores": {variant: asdict(sums) for variant, sums in scores.items()}}
            self.tracker.client.call("POST", f"{SERVING_API}/scores", body, key=new_key())

    def log_root(self, log_dir: str | None) -> LogPath:
        chosen = log_dir or os.environ.get(LOG_DIR_ENV)
        if not chosen:
            raise ConfigError(f"Serving through {self.where}, the prediction log needs a place of its own: set "
                              f"log_dir in serving.yaml (a folder or s3://bucket/prefix) or {LOG_DIR_ENV}.")
        return open_folder(str(chosen))


def rollout_from_json(document: dict[str, Any]) -> Rollout:
    """A rollout as ``/serving/rollouts`` answers it (the dataclass's fields; its steps a list)."""
    return Rollout(**{**document, "steps": tuple(document["steps"])})


def server_arm_states(tracker: RemoteTracker, deployments: list[str]) -> dict[str, dict[str, ArmState]]:
    """The bandit arms of ``deployments`` as the team server's store holds them (what ``bandit status`` shows)."""
    query = quote(",".join(deployments), safe=",")
    answer = tracker.client.call("GET", f"{SERVING_API}/bandits?deployments={query}")
    return {deployment: {variant: ArmState(**state) for variant, state in arms.items()}
            for deployment, arms in answer["arms"].items()}
