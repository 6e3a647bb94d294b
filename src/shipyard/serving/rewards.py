"""Labels turned into rewards for a ``routing: thompson`` deployment's posteriors, on whichever replica gets them.

The feedback core (:mod:`.feedback`) stores a label and, for a bandit, calls :func:`count_rewards`: the labelled
predictions are read back from the log (this worker's went to disk before the label; other workers' and
replicas' are found there as the feedback core found them), their variant, prediction and propensity give the
reward, and ``models/bandits.py`` adds it to the sums of the fleet's source (the store, or the team server) once
per prediction, whoever posts it how often.
A prediction logged without a propensity (before the deployment routed by ``thompson``) is not counted. With
``reward: accuracy``, the prediction's largest probability through its variant's confidence map (its score
while the label was pending, ``.scores``) goes with the reward, so the store moves the prediction from pending
to labelled. A label that comes after the variant's alias moved is mapped with the new version's map: the few
predictions in flight at a move count a slightly different score labelled than pending.
"""

from __future__ import annotations

import logging

from ..calibration import calibrated_confidence
from ..models.bandits import Reward
from ..predlog.readers import routed_predictions
from ..predlog.schema import FeedbackEntry, label_text
from .fleet import LiveDeployment
from .state import ServerState

log = logging.getLogger("shipyard.serving")


def reward_of(kind: str, prediction: str, label: object) -> float | None:
    """What a label is worth for ``reward`` ``kind``: ``accuracy`` 1 or 0; ``label`` the label itself, a number in
    [0, 1] (None when it is not one: such a label is stored but not counted)."""
    if kind == "accuracy":
        return 1.0 if label_text(label) == prediction else 0.0
    if isinstance(label, bool):
        return float(label)
    if isinstance(label, int | float) and 0 <= label <= 1:
        return float(label)
    return None


def count_rewards(state: ServerState, deployment: LiveDeployment, entries: list[FeedbackEntry]) -> int:
    """Add the rewards of ``entries`` to the deployment's posteriors; returns how many were new (blocking)."""
    routed = routed_predictions(state.predictions_root, deployment.name, {entry.request_id for entry in entries})
    rewards = []
    maps = {slot.name: slot.serving.confidence for slot in deployment.variants}
    for entry in entries:
        variant, prediction, propensity, confidence = routed.get((entry.request_id, entry.row), ("", "", None, None))
        if propensity is None:
            continue
        reward = reward_of(deployment.spec.reward, prediction, entry.label)
        if reward is None:
            log.info("%s: the label of %s row %s is not a number in [0, 1], so 'reward: label' does not count it",
                     deployment.name, entry.request_id, entry.row)
            continue
        # the score the prediction counted with while pending (.scores), replaced by this label in the store: its
        # stated confidence through the variant's confidence map, as when it was answered
        expected = None
        if deployment.spec.reward == "accuracy" and confidence is not None:
            found = maps.get(variant)
            expected = confidence if found is None else calibrated_confidence(found, [confidence])[0]
        rewards.append(Reward(entry.request_id, entry.row, variant, reward, propensity, expected))
    return state.fleet.source.record_rewards(deployment.name, rewards)
