"""What ``autolog()`` switched on: read by the patched methods on every call, so it must be cheap."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Settings:
    libraries: set[str] = field(default_factory=set)  # the libraries whose calls are logged now
    log_models: bool = True
    search_children: bool = False
    experiment: str | None = None


settings = Settings()
claimed_runs: set[str] = set()  # runs an autologged fit already logged into: the next fit there gets a child run
claimed_lock = threading.Lock()
