"""What a server runs: ``serving.yaml`` (or one model URI) turned into validated settings.

The file is checked completely before anything loads, so a typo in a weight or an unknown key fails the
start with the file, the key path and what was expected, instead of surfacing as a wrong traffic split.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..models.flavors import PICKLE_TRUST
from ..models.uri import parse_model_uri
from ..store.yaml_file import error_at, load_yaml
from .thompson import DEFAULT_CALIBRATION_DOUBT

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,99}$")
RUNTIMES = ("auto", "python", "onnx")
DEFAULT_REFRESH_S = 10.0
DEFAULT_MAX_BODY = 10 * 1024 * 1024
DEFAULT_MAX_REQUEST_ROWS = 10_000
DEFAULT_BODY_TIMEOUT_S = 10.0
# buffered: the prediction log group-commits every flush_interval_s; strict: before each answer (docs/serving.md)
DURABILITY = ("buffered", "strict")
# random: by the variants' weights; thompson: by each variant's posterior of its reward (serving/thompson.py)
ROUTING = ("random", "thompson")
# accuracy: 1 when the label equals the prediction; label: the label itself, a number in [0, 1] (a click)
REWARDS = ("accuracy", "label")
DEFAULT_MIN_PROPENSITY = 0.02  # serving/thompson.py DEFAULT_FLOOR: kept equal by a test


@dataclass(frozen=True)
class Batching:
    """Micro-batching: requests that arrive while a batch runs are served by the next one, up to
    ``max_batch_size`` rows; ``max_wait_ms`` is spent waiting for company only when traffic is concurrent."""

    max_batch_size: int = 64
    max_wait_ms: float = 2.0

    @property
    def enabled(self) -> bool:
        return self.max_batch_size > 1


@dataclass(frozen=True)
class Variant:
    name: str
    model: str  # a model URI; aliases are re-resolved while serving
    weight: float = 1.0
    shadow: bool = False


@dataclass(frozen=True)
class Deployment:
    name: str
    variants: tuple[Variant, ...]
    shadows: tuple[Variant, ...] = ()
    sticky_key: str | None = None
    batching: Batching = field(default_factory=Batching)
    runtime: str = "auto"
    routing: str = "random"
    reward: str = "accuracy"  # with routing: thompson, what a label is worth
    min_propensity: float = DEFAULT_MIN_PROPENSITY  # with routing: thompson, each variant's least share
    score_doubt: float = DEFAULT_CALIBRATION_DOUBT  # with routing: thompson, how far scores may be off; 0: labels only

    @property
    def thompson(self) -> bool:
        return self.routing == "thompson"

    @property
    def all_variants(self) -> tuple[Variant, ...]:
        return self.variants + self.shadows


@dataclass(frozen=True)
class ServingConfig:
    deployments: tuple[Deployment, ...]
    refresh_interval_s: float = DEFAULT_REFRESH_S
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_request_rows: int = DEFAULT_MAX_REQUEST_ROWS  # more rows in one request: 413
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S  # a body not whole this long after its headers: 408
    log_dir: str | None = None  # default: <store>/predictions
    flush_interval_s: float = 1.0
    durability: str = "buffered"  # or "strict": every prediction on disk before its answer
    trust: tuple[str, ...] = ()
    token: str | None = None  # required by writes (feedback, client-chosen request ids) when set
    # Host names answered besides loopback names and IP addresses (serving/access.py); serve() adds --host's name.
    allowed_hosts: tuple[str, ...] = ()
    insecure_no_auth: bool = False  # --insecure-no-auth: beyond loopback without a token, anyone may write
    monitor_interval_s: float = 60.0  # how often plugins such as the monitoring gauges recompute
    # Periodic jobs by import path ("package.module:factory"), the factory taking the config and returning
    # objects with ``interval`` and ``run(state)``: how layers above serving (monitoring) add work to a server.
    plugins: tuple[str, ...] = ()

    def deployment(self, name: str) -> Deployment | None:
        return next((item for item in self.deployments if item.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, so worker processes can rebuild the config (see :func:`from_dict`)."""
        from dataclasses import asdict

        return asdict(self)


def from_dict(data: dict[str, Any]) -> ServingConfig:
    deployments = tuple(
        Deployment(
            name=item["name"],
            variants=tuple(Variant(**variant) for variant in item["variants"]),
            shadows=tuple(Variant(**variant) for variant in item["shadows"]),
            sticky_key=item["sticky_key"],
            batching=Batching(**item["batching"]),
            runtime=item["runtime"],
            routing=item.get("routing", "random"),
            reward=item.get("reward", "accuracy"),
            min_propensity=item.get("min_propensity", DEFAULT_MIN_PROPENSITY),
            score_doubt=item.get("score_doubt", DEFAULT_CALIBRATION_DOUBT),
        )
        for item in data["deployments"]
    )
    settings = {key: value for key, value in data.items() if key != "deployments"}
    settings["trust"] = tuple(settings.get("trust") or ())
    settings["plugins"] = tuple(settings.get("plugins") or ())
    settings["allowed_hosts"] = tuple(settings.get("allowed_hosts") or ())
    return ServingConfig(deployments=deployments, **settings)


def config_for_uri(uri: str, *, batching: Batching | None = None, runtime: str = "auto") -> ServingConfig:
    """One deployment named after the model (``models:/churn@champion`` -> ``churn``) with one variant."""
    parsed = parse_model_uri(uri)
    name = parsed.name or f"run-{(parsed.run_id or '')[:8]}"
    variant_name = parsed.alias or (f"v{parsed.version}" if parsed.version else "default")
    return ServingConfig((Deployment(name, (Variant(variant_name, uri, 100.0),), batching=batching or Batching(),
                                     runtime=_runtime(runtime, f"deployments.{name}.runtime",
                                                      _Source("command line"))),))


def load_config(path: str | os.PathLike[str]) -> ServingConfig:
    """Read and validate ``serving.yaml``.

    Raises:
        ConfigError: naming the file, the line and the key path of the first problem.
    """
    source = Path(path)
    if not source.exists():
        raise ConfigError(f"{source}: no such file; write a serving.yaml (see docs/serving.md).")
    data = load_yaml(source, str(source), not_yaml="cannot be read as YAML")
    return parse_config(data, str(source))


@dataclass(frozen=True)
class _Source:
    """Where the settings come from: ``data`` as :func:`load_yaml` read it lets every error name the line of the
    key it is about; data given as a plain dict (tests, :func:`from_dict`) has no lines."""

    name: str
    data: Any = None

    def error(self, at: str, message: str) -> ConfigError:
        """``message`` about the key path ``at`` ("deployments.churn.variants[1].weight")."""
        return error_at(self.name, self.data, at, message)


def parse_config(data: Any, source: str = "serving.yaml") -> ServingConfig:
    origin = _Source(source, data)
    top = _mapping(data, "the top level", origin, at="")
    _known(top, {"deployments", "refresh_interval_s", "max_body_bytes", "max_request_rows", "body_timeout_s",
                 "log_dir", "flush_interval_s", "durability", "trust", "token", "monitor_interval_s",
                 "allowed_hosts"}, "the top level", origin, at="")
    deployments_data = _mapping(top.get("deployments"), "deployments", origin)
    if not deployments_data:
        raise origin.error("deployments", "'deployments' is empty; name at least one deployment with its variants.")
    deployments = tuple(_deployment(str(name), spec, origin) for name, spec in deployments_data.items())
    trust = _trust(top.get("trust"), origin)
    allowed_hosts = top.get("allowed_hosts") or []
    if not isinstance(allowed_hosts, list) or not all(isinstance(item, str) and item.strip() for item in allowed_hosts):
        raise origin.error("allowed_hosts", "'allowed_hosts' must be a list of host names (such as "
                           "models.example.com).")
    return ServingConfig(
        deployments,
        refresh_interval_s=_number(top.get("refresh_interval_s", DEFAULT_REFRESH_S), "refresh_interval_s", origin,
                                   minimum=0.1),
        max_body_bytes=int(_number(top.get("max_body_bytes", DEFAULT_MAX_BODY), "max_body_bytes", origin,
                                   minimum=1024)),
        max_request_rows=_whole(top.get("max_request_rows", DEFAULT_MAX_REQUEST_ROWS), "max_request_rows", origin),
        body_timeout_s=_number(top.get("body_timeout_s", DEFAULT_BODY_TIMEOUT_S), "body_timeout_s", origin,
                               minimum=0.1),
        log_dir=_optional_text(top.get("log_dir"), "log_dir", origin),
        flush_interval_s=_number(top.get("flush_interval_s", 1.0), "flush_interval_s", origin, minimum=0.01,
                                 maximum=1.0),
        durability=_choice(top.get("durability", "buffered"), DURABILITY, "durability", origin),
        trust=tuple(trust),
        token=_optional_text(top.get("token"), "token", origin),
        allowed_hosts=tuple(allowed_hosts),
        monitor_interval_s=_number(top.get("monitor_interval_s", 60.0), "monitor_interval_s", origin, minimum=1),
    )


def _trust(value: Any, source: _Source) -> list[str]:
    """Type names skops cannot vouch for that this server may rebuild, and pickles it may load, each named by its
    hash (``pickle:<hash>``). Never a blanket ``true``: a pickle runs code, and a served alias can move to a version
    nobody looked at; a pickle named by its hash is the one somebody did look at."""
    what = ("'trust' must be a list of type names skops cannot vouch for (such as [mypackage.MyTransformer]) or of "
            f"pickles named by their hash ({PICKLE_TRUST}<64 hex digits>)")
    if value is True:
        raise source.error("trust", f"{what}, not true: a server loads no pickle nobody named. Name the pickle's hash "
                           "(the refusal to load it says it), or log the model with serializer='skops' "
                           "(scikit-learn) or as an ONNX graph.")
    if value is None or value is False:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise source.error("trust", f"{what}.")
    for item in value:
        check_trust_entry(item, lambda message: source.error("trust", message), where="'trust'")
    return value


def check_trust_entry(item: str, error: Callable[[str], Exception], *, where: str) -> None:
    """A ``pickle:`` entry must carry a whole content hash: a prefix would trust whichever pickle matches it."""
    if item.startswith(PICKLE_TRUST) and not re.fullmatch(r"[0-9a-f]{64}", item[len(PICKLE_TRUST):]):
        raise error(f"The {where} entry {item[:80]!r} must be {PICKLE_TRUST} followed by the pickle's whole hash "
                    "(64 hex digits), as the refusal to load it prints.")


def _deployment(name: str, data: Any, source: _Source) -> Deployment:
    where = f"deployments.{name}"
    if not _NAME_RE.match(name):
        raise source.error(where, f"deployment name {name!r} must be letters, digits, '_', '-' or '.'.")
    spec = _mapping(data, where, source)
    _known(spec, {"variants", "shadow", "sticky_key", "batching", "runtime", "model", "routing", "reward",
                  "min_propensity", "score_doubt"}, where, source)
    if "model" in spec and "variants" in spec:
        raise source.error(where, f"{where} has both 'model' and 'variants'; use one.")
    if "model" in spec:
        raw_variants: Any = [{"name": "default", "model": spec["model"], "weight": 100}]
    else:
        raw_variants = spec.get("variants")
    if not isinstance(raw_variants, list) or not raw_variants:
        raise source.error(f"{where}.variants", f"{where}.variants must be a non-empty list of {{name, model, "
                           "weight}.")
    # Where each variant's keys are written: a deployment's `model:` shorthand is its one variant.
    written_at = [where] if "model" in spec else [f"{where}.variants[{index}]" for index in range(len(raw_variants))]
    variants = tuple(_variant(item, f"{where}.variants[{index}]", source, index, at=written_at[index])
                     for index, item in enumerate(raw_variants))
    if sum(variant.weight for variant in variants) <= 0:
        raise source.error(f"{where}.variants", f"{where}.variants: the weights add up to 0; give at least one a "
                           "weight > 0.")
    shadows_data = spec.get("shadow") or []
    if not isinstance(shadows_data, list):
        raise source.error(f"{where}.shadow", f"{where}.shadow must be a list of model URIs.")
    shadows = tuple(_variant(item, f"{where}.shadow[{index}]", source, index, shadow=True)
                    for index, item in enumerate(shadows_data))
    written_at += [f"{where}.shadow[{index}]" for index in range(len(shadows))]
    names = [variant.name for variant in variants + shadows]
    duplicate = next((item for item in names if names.count(item) > 1), None)
    if duplicate:
        second = names.index(duplicate, names.index(duplicate) + 1)
        raise source.error(f"{written_at[second]}.name", f"{where}: the variant name {duplicate!r} is used twice.")
    sticky_key = _optional_text(spec.get("sticky_key"), f"{where}.sticky_key", source)
    routing, reward, floor, doubt = _routing(spec, variants, sticky_key, where, source)
    return Deployment(name, variants, shadows, sticky_key=sticky_key,
                      batching=_batching(spec.get("batching"), f"{where}.batching", source),
                      runtime=_runtime(spec.get("runtime", "auto"), f"{where}.runtime", source),
                      routing=routing, reward=reward, min_propensity=floor, score_doubt=doubt)


def _routing(spec: dict[str, Any], variants: tuple[Variant, ...], sticky_key: str | None, where: str,
             source: _Source) -> tuple[str, str, float, float]:
    """``routing``, ``reward``, ``min_propensity`` and ``score_doubt``: the last three only mean something with
    ``thompson``. ``score_doubt`` is how far the models' stated P(correct) may be off before labels show it
    (``serving/thompson.py``); 0 routes on labels alone."""
    routing = _choice(spec.get("routing", "random"), ROUTING, f"{where}.routing", source)
    if routing != "thompson":
        for key in ("reward", "min_propensity", "score_doubt"):
            if key in spec:
                raise source.error(f"{where}.{key}", f"{where}.{key} is only used with 'routing: thompson'.")
        return routing, "accuracy", DEFAULT_MIN_PROPENSITY, DEFAULT_CALIBRATION_DOUBT
    if len(variants) < 2:
        raise source.error(f"{where}.routing", f"{where}: 'routing: thompson' chooses between variants; list at "
                           "least two under 'variants'.")
    if sticky_key is not None:
        raise source.error(f"{where}.sticky_key", f"{where}: 'sticky_key' pins a key to one variant, which "
                           "'routing: thompson' cannot do; remove one of them.")
    reward = _choice(spec.get("reward", "accuracy"), REWARDS, f"{where}.reward", source)
    floor = _number(spec.get("min_propensity", DEFAULT_MIN_PROPENSITY), f"{where}.min_propensity", source,
                    minimum=0.001)
    if floor * len(variants) >= 1:
        raise source.error(f"{where}.min_propensity", f"{where}.min_propensity times the {len(variants)} variants "
                           f"must stay below 1, got {floor:g}.")
    doubt = _number(spec.get("score_doubt", DEFAULT_CALIBRATION_DOUBT), f"{where}.score_doubt", source, minimum=0.0,
                    maximum=0.5)
    return routing, reward, floor, doubt


def _variant(data: Any, where: str, source: _Source, index: int, *, shadow: bool = False,
             at: str | None = None) -> Variant:
    """``at``: the key path of the variant's keys in the file, when not ``where`` (a deployment's ``model:``)."""
    at = at or where
    if isinstance(data, str):
        data = {"model": data}
    spec = _mapping(data, where, source, at=at)
    _known(spec, {"name", "model", "weight"}, where, source, at=at)
    model = spec.get("model")
    if not isinstance(model, str):
        raise source.error(f"{at}.model", f"{where}.model must be a model URI such as models:/churn@champion.")
    try:
        parsed = parse_model_uri(model)
    except ValueError as exc:
        raise source.error(f"{at}.model", f"{where}.model: {exc}") from None
    default_name = f"shadow{index + 1}" if shadow else (parsed.alias or f"variant{index + 1}")
    name = spec.get("name", default_name)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise source.error(f"{at}.name", f"{where}.name must be letters, digits, '_', '-' or '.'.")
    weight = 0.0 if shadow else _number(spec.get("weight", 1), f"{where}.weight", source, minimum=0,
                                        at=f"{at}.weight")
    return Variant(name, model, weight, shadow)


def _batching(data: Any, where: str, source: _Source) -> Batching:
    if data is None:
        return Batching()
    if data is False:
        return Batching(1, 0.0)
    spec = _mapping(data, where, source)
    _known(spec, {"max_batch_size", "max_wait_ms"}, where, source)
    size = _number(spec.get("max_batch_size", 64), f"{where}.max_batch_size", source, minimum=1, maximum=100_000)
    wait = _number(spec.get("max_wait_ms", 2.0), f"{where}.max_wait_ms", source, minimum=0, maximum=1000)
    if size != int(size):
        raise source.error(f"{where}.max_batch_size", f"{where}.max_batch_size must be a whole number, got {size}.")
    return Batching(int(size), float(wait))


def _runtime(value: Any, where: str, source: _Source) -> str:
    return _choice(value, RUNTIMES, where, source)


def _choice(value: Any, choices: tuple[str, ...], where: str, source: _Source) -> str:
    if value not in choices:
        raise source.error(where, f"{where} must be one of {', '.join(choices)}, got {value!r}.")
    return str(value)


def _whole(value: Any, where: str, source: _Source) -> int:
    number = _number(value, where, source, minimum=1)
    if number != int(number):
        raise source.error(where, f"{where} must be a whole number, got {value!r}.")
    return int(number)


# In the helpers below, ``where`` names the value in the message and ``at`` is its key path in the file, when the
# two differ ("the top level" is at "", a deployment's ``model:`` shorthand is its variants[0]).


def _mapping(data: Any, where: str, source: _Source, *, at: str | None = None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise source.error(where if at is None else at,
                           f"{where} must be a mapping (key: value), got {type(data).__name__}.")
    return data


def _known(data: dict[str, Any], allowed: set[str], where: str, source: _Source, *, at: str | None = None) -> None:
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        prefix = where if at is None else at
        raise source.error(f"{prefix}.{unknown[0]}" if prefix else unknown[0],
                           f"{where} has unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}.")


def _number(value: Any, where: str, source: _Source, *, minimum: float | None = None,
            maximum: float | None = None, at: str | None = None) -> float:
    at = where if at is None else at
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise source.error(at, f"{where} must be a number, got {value!r}.")
    if minimum is not None and value < minimum:
        raise source.error(at, f"{where} must be at least {minimum:g}, got {value!r}.")
    if maximum is not None and value > maximum:
        raise source.error(at, f"{where} must be at most {maximum:g}, got {value!r}.")
    return float(value)


def _optional_text(value: Any, where: str, source: _Source) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise source.error(where, f"{where} must be text, got {value!r}.")
    return str(value)
