"""``shipyard dockerfile``: what the image would hold, checked without a Docker engine.

The build context is read as ``docker build`` reads it (``_dockerfile``): every COPY source must exist and
not be ignored, and the COPY instructions laid out into a folder give the image's files. The store in
there must hold exactly the served versions' package objects (no data cache, no other model), and serve
``models:/name@alias`` as the project's store does; ``onnxruntime`` is pinned only for a verified ONNX
export that the serving config uses.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest

import shipyard
from shipyard.store import Store
from shipyard.store.location import location_for
from shipyard.tracking.artifacts import list_artifacts
from tests.integration.serving._dockerfile import (
    copies,
    env,
    exec_form,
    instructions,
    lay_out_image,
    missing_sources,
    pip_installs,
)
from tests.integration.serving._serving import Template, write_config
from tests.integration.serving.test_cli import shipyard_cli


@pytest.fixture(scope="session")
def shipyard_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel of the Shipyard under test for the session (building takes a second or two)."""
    from shipyard.serving.shipyard_wheel import shipyard_wheel as build

    return build(tmp_path_factory.mktemp("wheel")).path


def dockerfile(cwd: Path, wheel: Path | None, *args: str) -> Path:
    """Run ``shipyard dockerfile ARGS`` (with ``--shipyard-wheel`` unless ``wheel`` is None); returns the file."""
    extra = ["--shipyard-wheel", str(wheel)] if wheel is not None else []
    done = shipyard_cli("dockerfile", *args, *extra, cwd=cwd, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    output = args[args.index("-o") + 1] if "-o" in args else "Dockerfile"
    return cwd / output


def image_store(image: Path, text: str) -> Path:
    return image / env(text)["SHIPYARD_STORE"].lstrip("/")


def requirements(image: Path, text: str) -> dict[str, str]:
    """``name -> version`` of the requirement files the image's ``pip install -r`` reads."""
    pins: dict[str, str] = {}
    for arguments in pip_installs(text):
        for index, word in enumerate(arguments):
            if word == "-r":
                for line in (image / arguments[index + 1].lstrip("/")).read_text().splitlines():
                    if line.strip() and not line.startswith("#"):
                        name, _, pinned = line.partition("==")
                        pins[name.split("[")[0].strip().lower()] = pinned.strip()
    return pins


def held_objects(store_dir: Path) -> set[str]:
    store = Store(location_for(store_dir))
    try:
        return set(store.objects.iter_hashes())
    finally:
        store.close()


def package_objects(store_dir: Path, uri: str, *, onnx: bool = False) -> set[str]:
    """The objects of a registered version's package: its manifest and every file the manifest lists."""
    shipyard.set_store(store_dir)
    try:
        version = shipyard.get_model_version(*_name_and_version(uri))
        entries = {entry["path"]: entry["hash"] for entry in list_artifacts(shipyard.current_store(), version.run_id)}
        wanted = {path for path in entries if path.startswith(f"{version.path}/")}
        if not onnx:
            wanted.discard(f"{version.path}/model.onnx")
        return {entries[path] for path in wanted}
    finally:
        shipyard.set_store(None)


def _name_and_version(uri: str) -> tuple[str, int]:
    match = re.fullmatch(r"models:/([^/@]+)/(\d+)", uri)
    assert match is not None
    return match.group(1), int(match.group(2))


def add_data(project: Path) -> str:
    """Track a data file with ``shipyard add``: its bytes land in the store's data cache; returns their hash."""
    (project / "customers.csv").write_text("id,tenure\n" + "".join(f"{i},{i % 70}\n" for i in range(500)))
    done = shipyard_cli("add", "customers.csv", cwd=project)
    assert done.returncode == 0, done.stderr
    pointer = (project / "customers.csv.ship").read_text()
    match = re.search(r"[0-9a-f]{64}", pointer)
    assert match is not None, pointer
    return match.group(0)


@pytest.mark.slow
def test_the_image_holds_the_served_versions_objects_and_nothing_else(churn_store: Path, template: Template,
                                                                      shipyard_wheel: Path, tmp_path: Path) -> None:
    data_hash = add_data(tmp_path)
    assert data_hash in held_objects(churn_store)
    path = dockerfile(tmp_path, shipyard_wheel, "models:/churn@champion", "-o", "Dockerfile")
    text = path.read_text()
    assert missing_sources(path) == []
    image = lay_out_image(path, tmp_path / "image")
    store_dir = image_store(image, text)

    served = package_objects(churn_store, "models:/churn/1")
    assert held_objects(store_dir) == served  # no data cache, no version 2, no other run's artifacts
    assert data_hash not in held_objects(store_dir)
    assert package_objects(churn_store, "models:/churn/2") - served  # version 2 has objects of its own, left out
    assert not (store_dir / "serving").exists() and not (store_dir / "logs").exists()
    with closing(sqlite3.connect(store_dir / "meta.db")) as db:
        assert db.execute("SELECT name, version FROM model_versions").fetchall() == [("churn", 1)]
        assert db.execute("SELECT name, alias, version FROM model_aliases").fetchall() == [("churn", "champion", 1)]
        assert db.execute("SELECT count(*) FROM stat_cache").fetchone() == (0,)

    # The image's store serves the alias as the project's does: same version, same answers.
    shipyard.set_store(store_dir)
    try:
        model = shipyard.load_model("models:/churn@champion")
        assert model.version == 1
        inputs = template.holdout(rows=20, seed=5)
        assert model.predict(inputs).tolist() == template.models[1].predict(inputs).tolist()
    finally:
        shipyard.set_store(None)


@pytest.mark.slow
def test_a_config_exports_every_variant_and_shadow_it_serves(churn_store: Path, shipyard_wheel: Path,
                                                              tmp_path: Path) -> None:
    config = write_config(tmp_path / "serving.yaml", {"deployments": {"churn": {
        "variants": [{"name": "champion", "model": "models:/churn@champion"}], "shadow": ["models:/churn/2"]}}})
    path = dockerfile(tmp_path, shipyard_wheel, "--config", str(config), "-o", "deploy.Dockerfile")
    text = path.read_text()
    assert missing_sources(path) == []
    assert exec_form(text, "CMD")[:4] == ["shipyard", "serve", "--config", "/app/serving.yaml"]
    image = lay_out_image(path, tmp_path / "image")
    assert (image / "app" / "serving.yaml").read_text() == config.read_text()
    store_dir = image_store(image, text)
    assert held_objects(store_dir) == (package_objects(churn_store, "models:/churn/1")
                                       | package_objects(churn_store, "models:/churn/2"))
    with closing(sqlite3.connect(store_dir / "meta.db")) as db:
        assert db.execute("SELECT name, version FROM model_versions ORDER BY version").fetchall() == [
            ("churn", 1), ("churn", 2)]
        # challenger points at version 2, which this image serves (as a shadow): the alias stays true
        assert db.execute("SELECT alias, version FROM model_aliases ORDER BY alias").fetchall() == [
            ("challenger", 2), ("champion", 1)]


@pytest.mark.slow
def test_onnxruntime_is_pinned_only_for_a_verified_export_the_config_uses(churn_store: Path, shipyard_wheel: Path,
                                                                         tmp_path: Path) -> None:
    def build(name: str, *args: str) -> tuple[str, Path]:
        folder = tmp_path / name
        folder.mkdir()
        path = dockerfile(folder, shipyard_wheel, *args, "-o", "Dockerfile")
        return path.read_text(), lay_out_image(path, folder / "image")

    text, image = build("no-export", "models:/churn@champion")
    assert "onnxruntime" not in requirements(image, text)  # runtime auto, but nothing to run in ONNX

    shipyard.export_onnx("models:/churn/1", tmp_path / "churn.onnx")
    text, image = build("export", "models:/churn@champion")
    assert requirements(image, text)["onnxruntime"] == installed_version("onnxruntime")
    assert held_objects(image_store(image, text)) == package_objects(churn_store, "models:/churn/1", onnx=True)

    python = write_config(tmp_path / "python.yaml", {"deployments": {"churn": {"model": "models:/churn@champion",
                                                                               "runtime": "python"}}})
    text, image = build("python", "--config", str(python))
    assert "onnxruntime" not in requirements(image, text)
    assert held_objects(image_store(image, text)) == package_objects(churn_store, "models:/churn/1")
    with closing(sqlite3.connect(image_store(image, text) / "meta.db")) as db:
        assert db.execute("SELECT count(*) FROM model_version_tags WHERE key LIKE 'onnx.%'").fetchone() == (0,)

    onnx = write_config(tmp_path / "onnx.yaml", {"deployments": {"churn": {"model": "models:/churn/2",
                                                                           "runtime": "onnx"}}})
    done = shipyard_cli("dockerfile", "--config", str(onnx), "--shipyard-wheel", str(shipyard_wheel), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no verified ONNX export" in done.stderr and "runtime: python" in done.stderr
    assert not (tmp_path / "Dockerfile").exists()


@pytest.mark.slow
def test_the_dockerfile_is_slim_non_root_healthchecked_and_copies_only_what_exists(churn_store: Path,
                                                                                   shipyard_wheel: Path,
                                                                                   tmp_path: Path) -> None:
    path = dockerfile(tmp_path, shipyard_wheel, "models:/churn@champion", "-o", "Dockerfile")
    text = path.read_text()
    keywords = [item.keyword for item in instructions(text)]
    assert keywords[0] == "FROM" and set(keywords) <= {"FROM", "ENV", "RUN", "WORKDIR", "COPY", "USER", "EXPOSE",
                                                       "HEALTHCHECK", "STOPSIGNAL", "CMD"}
    assert re.search(r"^FROM python:3\.\d+-slim$", text, flags=re.MULTILINE)
    users = [item.arguments for item in instructions(text) if item.keyword == "USER"]
    assert users and users[-1] not in ("root", "0")  # the server runs as the last USER
    assert re.search(r"^RUN useradd .*" + re.escape(users[-1]), text, flags=re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n.*/health/ready", text, flags=re.MULTILINE)
    assert exec_form(text, "CMD")[:3] == ["shipyard", "serve", "models:/churn@champion"]
    assert missing_sources(path) == []
    assert all(not source.startswith((".shipyard", "/")) and ".." not in source
               for copy in copies(text) for source in copy.sources)
    # The install step uses only what the COPY instructions put into the image, and never an index name for
    # Shipyard itself: the wheel is given by path.
    image = lay_out_image(path, tmp_path / "image")
    (install,) = pip_installs(text)
    paths = [word for word in install if word.startswith("/")]
    assert paths and all((image / word.split("[")[0].lstrip("/")).is_file() for word in paths), install
    wheel = next(word for word in install if word.split("[")[0].endswith(".whl"))
    assert wheel.endswith("[serve]") and Path(wheel.split("[")[0]).name == shipyard_wheel.name
    pins = requirements(image, text)
    assert "shipyard-ml" not in pins and {"scikit-learn", "fastapi", "uvicorn", "pandas", "numpy"} <= set(pins)
    assert all(pins[name] == installed_version(name) for name in ("fastapi", "uvicorn", "pandas", "numpy"))
    assert not {"pytest", "ruff", "mypy", "moto"} & set(pins)  # this environment's tools stay out


def test_a_shipyard_wheel_that_is_not_one_is_refused_naming_the_option(churn_store: Path, tmp_path: Path) -> None:
    (tmp_path / "fake.whl").write_text("not a zip")
    for given in ("missing.whl", "fake.whl"):
        done = shipyard_cli("dockerfile", "models:/churn@champion", "--shipyard-wheel", given, cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "--shipyard-wheel" in lines[0] and given in lines[0], done.stderr
    assert not (tmp_path / "Dockerfile").exists()


@pytest.mark.slow
def test_a_second_run_replaces_the_context_whole_and_a_damaged_object_changes_nothing(
        churn_store: Path, shipyard_wheel: Path, tmp_path: Path) -> None:
    path = dockerfile(tmp_path, shipyard_wheel, "models:/churn@champion")
    context = tmp_path / "Dockerfile.context"
    assert held_objects(context / "store") == package_objects(churn_store, "models:/churn/1")

    shipyard.set_alias("churn", "champion", 2)
    shipyard.set_store(None)
    dockerfile(tmp_path, shipyard_wheel, "models:/churn@champion")
    assert held_objects(context / "store") == package_objects(churn_store, "models:/churn/2")  # nothing of v1 left
    assert sorted(item.name for item in tmp_path.iterdir() if item.name.startswith(".Dockerfile")) == []

    # Damage the model file of version 2 in the project's store: the export refuses, and the context of the
    # previous run stays as it was.
    before = {item.relative_to(context): item.read_bytes() for item in context.rglob("*") if item.is_file()}
    skops = next(digest for digest in package_objects(churn_store, "models:/churn/2")
                 if (churn_store / "objects" / digest[:2] / digest[2:]).is_file()
                 and (churn_store / "objects" / digest[:2] / digest[2:]).stat().st_size > 1000)
    damaged = churn_store / "objects" / skops[:2] / skops[2:]
    damaged.chmod(0o644)
    damaged.write_bytes(b"not the model any more" + damaged.read_bytes()[22:])
    done = shipyard_cli("dockerfile", "models:/churn@champion", "--shipyard-wheel", str(shipyard_wheel), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert skops[:12] in done.stderr
    assert {item.relative_to(context): item.read_bytes() for item in context.rglob("*") if item.is_file()} == before
    assert path.is_file() and missing_sources(path) == []
    assert sorted(item.name for item in tmp_path.iterdir() if item.name.startswith(".Dockerfile")) == []


def test_a_folder_the_command_did_not_write_is_not_replaced(churn_store: Path, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.context").mkdir()
    (tmp_path / "Dockerfile.context" / "notes.txt").write_text("mine")
    done = shipyard_cli("dockerfile", "models:/churn@champion", cwd=tmp_path)
    assert done.returncode == 2 and "was not written by `shipyard dockerfile`" in done.stderr, done.stderr
    assert [item.name for item in (tmp_path / "Dockerfile.context").iterdir()] == ["notes.txt"]
