"""The image's pins: the dependency closure read from this environment's installed metadata."""

from __future__ import annotations

from importlib import metadata

from shipyard.serving.image_requirements import normalized, pinned_closure


def _names(pins: dict[str, str]) -> set[str]:
    return {normalized(name) for name in pins}


def test_the_serve_extra_brings_its_libraries_and_theirs_at_the_installed_versions() -> None:
    pins = pinned_closure([("shipyard-ml", ["serve"])], exclude=["shipyard-ml"])
    names = _names(pins)
    assert {"fastapi", "uvicorn", "prometheus-client", "orjson"} <= names  # the extra
    assert {"starlette", "pydantic", "anyio", "h11"} <= names  # what those need, transitively
    assert {"uvloop", "httptools"} <= names  # uvicorn[standard]: an extra of a dependency is followed too
    assert {"pandas", "numpy", "sqlalchemy", "typer"} <= names  # the core
    assert "shipyard-ml" not in names
    assert all(version == metadata.version(name) for name, version in pins.items())


def test_extras_not_asked_for_and_tools_of_this_environment_stay_out() -> None:
    names = _names(pinned_closure([("shipyard-ml", [])]))
    assert "shipyard-ml" in names and "pandas" in names
    assert not {"fastapi", "uvicorn", "scipy", "scikit-learn", "onnxruntime"} & names
    assert not {"pytest", "ruff", "mypy", "moto", "playwright"} & names


def test_a_distribution_not_installed_here_is_left_to_pip() -> None:
    assert pinned_closure([("surely-not-installed-anywhere", [])]) == {}
    assert normalized("Scikit_Learn") == normalized("scikit.learn") == "scikit-learn"
