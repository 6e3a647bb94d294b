"""Friendly run names ("brave-otter-17") for runs the user did not name, as MLflow users expect."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "eager", "fair", "gentle", "glad",
    "keen", "lively", "lucid", "merry", "nimble", "quiet", "rapid", "sharp", "steady", "swift", "tidy",
    "vivid", "wise",
)
_NOUNS = (
    "badger", "crane", "dolphin", "falcon", "fox", "gull", "heron", "ibis", "lark", "lynx", "marten",
    "newt", "orca", "otter", "owl", "panda", "puffin", "raven", "seal", "stork", "swan", "tern", "wren",
    "yak",
)


def random_run_name() -> str:
    pick = random.SystemRandom()
    return f"{pick.choice(_ADJECTIVES)}-{pick.choice(_NOUNS)}-{pick.randrange(100)}"
