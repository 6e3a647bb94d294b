"""shipyard.PythonModel packages: a code reference, its source hash, config and artifact files (never a pickle),
loaded only with trust, refused before import when the source changed, checked by a reload when logged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.models import package
from tests._python_models import centroid_module


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    frame.columns = [name.replace(" ", "_") for name in frame.columns]
    return frame.iloc[:, :6], target.to_numpy()


def logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: tuple[pd.DataFrame, np.ndarray],
           kind: str = "Centroids") -> tuple[Any, str, str]:
    """(the live model, its URI, its code reference)."""
    module = centroid_module(tmp_path, monkeypatch)
    model = getattr(module, kind)(*data, tmp_path)
    with shipyard.start_run():
        info = shipyard.log_model(model, input_example=data[0])
    return model, info.uri, f"{module.__name__}:{kind}"


def test_a_fresh_process_answers_exactly_as_the_live_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           data: tuple[pd.DataFrame, np.ndarray], run_python) -> None:  # type: ignore[no-untyped-def]
    model, uri, reference = logged(tmp_path, monkeypatch, data)
    data[0].to_parquet(tmp_path / "rows.parquet")
    (tmp_path / "centroids.json").unlink()  # the package's own copy of the artifact is what loads
    run_python(f"""
import numpy as np, pandas as pd, shipyard
model = shipyard.load_model({uri!r}, trust=[{reference!r}])
rows = pd.read_parquet("rows.parquet")
np.savez("answers.npz", predict=np.asarray(model.predict(rows)), proba=model.predict_proba(rows).to_numpy())
""")
    answers = np.load(tmp_path / "answers.npz")
    np.testing.assert_array_equal(answers["predict"], model.predict(data[0]))
    np.testing.assert_array_equal(answers["proba"], model.predict_proba(data[0]))


def test_the_package_holds_a_code_reference_its_hash_config_and_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    from shipyard.store.hashing import hash_bytes

    _, uri, reference = logged(tmp_path, monkeypatch, data)
    loaded = shipyard.load_model(uri, trust=True)
    manifest = loaded.manifest
    assert (manifest["flavor"], manifest["serializer"]) == ("python", "python-code")
    assert manifest["untrusted_types"] == [reference]
    assert set(manifest["files"]) == {"input_example.json", "native.json", "artifacts/centroids/centroids.json"}
    assert loaded.signature.output.classes == (0, 1)
    run_id = uri.split("/")[1]
    meta = json.loads(package.run_artifacts.read_artifact(package.current_store(), run_id, "model/native.json"))
    module_file = tmp_path / f"{reference.split(':')[0]}.py"
    assert meta["code"] == reference and meta["config"] == {"temperature": 0.1}
    assert meta["source"] == {"module": reference.split(":")[0], "file": module_file.name,
                              "hash": hash_bytes(module_file.read_bytes())}
    for name in manifest["files"]:
        data_bytes = package.run_artifacts.read_artifact(package.current_store(), run_id, f"model/{name}")
        assert not data_bytes.startswith(b"\x80")  # no pickle anywhere


def test_loading_needs_trust_naming_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             data: tuple[pd.DataFrame, np.ndarray]) -> None:
    model, uri, reference = logged(tmp_path, monkeypatch, data)
    for refused_trust in ((), ["numpy.dtype"]):
        with pytest.raises(shipyard.ValidationError) as refused:
            shipyard.load_model(uri, trust=refused_trust)
        message = str(refused.value)
        assert refused.value.field == "trust" and "\n" not in message
        assert f"whose code is {reference}" in message and f"--trust {reference}" in message
    for trust in (True, [reference]):
        np.testing.assert_array_equal(shipyard.load_model(uri, trust=trust).predict(data[0]), model.predict(data[0]))


def test_a_changed_source_is_refused_before_it_is_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           data: tuple[pd.DataFrame, np.ndarray], run_python) -> None:  # type: ignore[no-untyped-def]
    _, uri, reference = logged(tmp_path, monkeypatch, data)
    marker = tmp_path / "imported"
    code = f"""
import shipyard
try:
    shipyard.load_model({uri!r}, trust=True)
    print("LOADED")
except shipyard.IntegrityError as exc:
    print("REFUSED", exc)
"""
    assert run_python(code, env={"SHIPYARD_TEST_IMPORTED": str(marker)}).stdout.strip() == "LOADED"
    assert marker.exists()  # the marker does show an import
    marker.unlink()
    source = tmp_path / f"{reference.split(':')[0]}.py"
    source.write_text(source.read_text() + "\nTEMPERATURE = 0.2\n")
    done = run_python(code, env={"SHIPYARD_TEST_IMPORTED": str(marker)})
    line = done.stdout.strip()
    assert line.startswith("REFUSED The source of") and "changed since" in line and "\n" not in line, done
    assert not marker.exists()


def test_a_module_that_is_not_importable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  data: tuple[pd.DataFrame, np.ndarray], run_python) -> None:  # type: ignore[no-untyped-def]
    _, uri, reference = logged(tmp_path, monkeypatch, data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_python(f"""
import shipyard
try:
    shipyard.load_model({uri!r}, trust=True)
except shipyard.ValidationError as exc:
    print(exc)
""", cwd=elsewhere)
    assert f"needs the module {reference.split(':')[0]}" in done.stdout and "PYTHONPATH" in done.stdout, done


def test_state_kept_outside_config_and_artifacts_is_refused_when_logging(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    with pytest.raises(shipyard.ValidationError, match="differently once rebuilt from its config and artifacts"):
        logged(tmp_path, monkeypatch, data, kind="Forgetful")


def test_classes_no_other_process_can_import_are_refused(data: tuple[pd.DataFrame, np.ndarray], run_python) -> None:  # type: ignore[no-untyped-def]
    class Local(shipyard.PythonModel):
        def predict(self, frame: Any) -> Any:
            return np.zeros(len(frame))

    with shipyard.start_run(), pytest.raises(shipyard.ValidationError, match="define it at the top level"):
        shipyard.log_model(Local(), input_example=data[0])
    done = run_python("""
import numpy as np, pandas as pd, shipyard
class Script(shipyard.PythonModel):
    def predict(self, frame):
        return np.zeros(len(frame))
try:
    shipyard.log_model(Script(), input_example=pd.DataFrame({"a": [1.0, 2.0]}))
except shipyard.ValidationError as exc:
    print(exc)
""")
    assert "defined in __main__ (a script or a notebook)" in done.stdout, done


def test_an_object_that_is_no_python_model_points_to_it(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    class Plain:
        def predict(self, frame: Any) -> Any:
            return np.zeros(len(frame))

    with shipyard.start_run(), pytest.raises(shipyard.ValidationError) as refused:
        shipyard.log_model(Plain(), input_example=data[0])
    assert "shipyard.PythonModel" in str(refused.value) and "serializer='pickle'" in str(refused.value)


def test_a_changed_helper_module_of_the_project_is_refused_before_the_model_is_imported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: tuple[pd.DataFrame, np.ndarray],
        run_python) -> None:  # type: ignore[no-untyped-def]
    import importlib
    import uuid

    package_name = f"project_{uuid.uuid4().hex[:8]}"  # a package: the model imports its helper relatively
    folder = tmp_path / package_name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "scaling.py").write_text("def scaled(values):\n    return values * 2.0\n")
    (folder / "model.py").write_text(
        "import os\nfrom pathlib import Path\n\nimport numpy as np\n\nimport shipyard\n\n"
        "from .scaling import scaled\n\n"
        "if os.environ.get('SHIPYARD_TEST_IMPORTED'):\n    Path(os.environ['SHIPYARD_TEST_IMPORTED']).touch()\n\n\n"
        "class Doubler(shipyard.PythonModel):\n    def predict(self, frame):\n"
        "        return scaled(np.asarray(frame, dtype='float64')[:, 0])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(f"{package_name}.model")
    with shipyard.start_run():
        info = shipyard.log_model(module.Doubler(), input_example=data[0])
    run_id = info.uri.split("/")[1]
    meta = json.loads(package.run_artifacts.read_artifact(package.current_store(), run_id, "model/native.json"))
    assert list(meta["helpers"]) == [f"{package_name}.scaling"]  # not numpy, os or shipyard: installed or stdlib
    marker = tmp_path / "imported"
    code = f"""
import shipyard
try:
    shipyard.load_model({info.uri!r}, trust=True)
    print("LOADED")
except shipyard.IntegrityError as exc:
    print("REFUSED", exc)
"""
    assert run_python(code, env={"SHIPYARD_TEST_IMPORTED": str(marker)}).stdout.strip() == "LOADED"
    marker.unlink()
    (folder / "scaling.py").write_text("def scaled(values):\n    return values * 3.0\n")
    line = run_python(code, env={"SHIPYARD_TEST_IMPORTED": str(marker)}).stdout.strip()
    assert line.startswith(f"REFUSED The source of {package_name}.scaling, imported by {package_name}.model"), line
    assert "changed since" in line and "\n" not in line
    assert not marker.exists()  # refused before the model's module ran
