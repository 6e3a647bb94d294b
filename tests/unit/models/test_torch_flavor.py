"""PyTorch packages against a real store: a torch.export program (TorchScript as the fallback), the same answers
in a fresh process, and refusals of what must not load (a crafted archive never runs code, a missing extra, a
version drift)."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not importable here (dev installs torch on CPython 3.11 only)")

import shipyard  # noqa: E402
from shipyard.models import package  # noqa: E402
from shipyard.models.signature import as_frame  # noqa: E402
from tests._flavor_checks import fresh_process_answers, load_with_warnings  # noqa: E402
from tests._torch_models import TORCH_MODELS, cancer, network_answers  # noqa: E402
from tests._tree_models import relog  # noqa: E402

nn = torch.nn
CLASSIFIERS = {"softmax-pipeline": True, "sigmoid-tensor": True, "sigmoid-pipeline": True, "regressor": False}


def _log(kind: str, name: str = "model") -> tuple[shipyard.ModelInfo, Any, Any, Any]:
    model, example, labels = TORCH_MODELS[kind]()
    return shipyard.log_model(model, name, input_example=example, y_example=labels), model, example, labels


def test_every_kind_answers_as_the_network_in_a_fresh_process(tmp_path: Path, run_python) -> None:  # type: ignore[no-untyped-def]
    expected, uris = {}, {}
    with shipyard.start_run():
        for kind in TORCH_MODELS:
            info, model, example, _ = _log(kind, kind)
            uris[kind] = info.uri
            expected[kind] = network_answers(model, example, classifier=CLASSIFIERS[kind])
            as_frame(example if kind.endswith("pipeline") else np.asarray(example)).to_parquet(
                tmp_path / f"{kind}.parquet")
    fresh = fresh_process_answers(run_python, uris, tmp_path)
    for kind, answers in expected.items():
        loaded = fresh[kind]
        assert sorted(loaded.files) == sorted(answers), kind
        for name, values in answers.items():
            np.testing.assert_allclose(loaded[name], values, rtol=0, atol=1e-6, err_msg=f"{kind} {name}")
        if "predict_proba" in answers:
            np.testing.assert_array_equal(loaded["predict"], answers["predict"])


def test_the_package_holds_an_exported_program_its_tensors_and_no_pickle() -> None:
    info, model, frame, _ = _log("softmax-pipeline")
    loaded = shipyard.load_model(info.uri)
    manifest = loaded.manifest
    assert (manifest["flavor"], manifest["serializer"]) == ("torch", "torch")
    assert set(manifest["files"]) == {"input_example.json", "model.pt2", "native.json", "preprocess.skops"}
    assert manifest["untrusted_types"] == []
    assert manifest["python_class"] == "sklearn.pipeline.Pipeline"
    assert manifest["libraries"]["torch"] == torch.__version__
    assert f"torch=={torch.__version__}" in manifest["requirements"]
    meta = json.loads(package.run_artifacts.read_artifact(package.current_store(), info.run_id, "model/native.json"))
    assert (meta["program"], meta["fallback_reason"], meta["outputs"]) == ("torch.export", None, "logits")
    tensors = {"input": {"shape": [None, 30], "dtype": "float32"}, "output": {"shape": [None, 2], "dtype": "float32"}}
    assert meta["tensors"] == tensors == loaded.signature.tensors == manifest["signature"]["tensors"]
    assert loaded.signature.column_names == list(frame.columns)  # the Pipeline's input: the table's own columns
    output = loaded.signature.output
    assert (output.kind, output.classes, output.probability_columns) == ("classifier", (0, 1), ("proba_0", "proba_1"))
    program = package.run_artifacts.read_artifact(package.current_store(), info.run_id, "model/model.pt2")
    assert program.startswith(b"PK")  # a zip of JSON and raw tensor bytes
    with zipfile.ZipFile(io.BytesIO(program)) as archive:
        for name in archive.namelist():
            assert not archive.read(name).startswith(b"\x80") or name.endswith("sample_inputs/model.pt"), name
    batch = frame.sample(300, random_state=1)  # one tensor of 300 rows through the dynamic batch dimension
    np.testing.assert_allclose(loaded.predict_proba(batch).to_numpy(), network_answers(model, batch)["predict_proba"],
                               rtol=0, atol=1e-6)


def test_a_network_export_cannot_take_falls_back_to_torchscript_and_says_why() -> None:
    class Gated(nn.Module):  # control flow on values: torch.export refuses it, TorchScript compiles it
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(30, 2)

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            if bool(features.sum() > 0):
                return self.linear(features)
            return -self.linear(features)

    _, inputs, labels = TORCH_MODELS["sigmoid-tensor"]()
    gated = Gated()
    with shipyard.start_run():
        info = shipyard.log_model(gated, input_example=inputs, y_example=labels)
    loaded = shipyard.load_model(info.uri)
    meta = json.loads(package.run_artifacts.read_artifact(package.current_store(), info.run_id, "model/native.json"))
    assert meta["program"] == "torchscript" and meta["fallback_reason"].startswith("torch.export failed: ")
    assert set(loaded.manifest["files"]) == {"input_example.json", "model.torchscript.pt", "native.json"}
    both_signs = torch.cat((inputs[:5], -inputs[:5] - 10))
    with torch.inference_mode():
        expected = torch.softmax(gated(both_signs[:5]), dim=1).numpy()
        flipped = torch.softmax(gated(both_signs[5:]), dim=1).numpy()
    np.testing.assert_allclose(loaded.predict_proba(both_signs[:5].numpy()).to_numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(both_signs[5:].numpy()).to_numpy(), flipped, atol=1e-6)


def test_a_network_ending_in_softmax_is_not_softmaxed_twice() -> None:
    _, inputs, labels = TORCH_MODELS["sigmoid-tensor"]()
    probabilities = nn.Sequential(nn.Linear(30, 3), nn.Softmax(dim=1))
    three = (labels.numpy() + (inputs[:, 0].numpy() > 1)).astype("int64")  # three classes
    with shipyard.start_run():
        info = shipyard.log_model(probabilities, input_example=inputs, y_example=three)
    loaded = shipyard.load_model(info.uri)
    with torch.inference_mode():
        expected = probabilities(inputs[:20]).numpy()
    assert loaded.signature.output.classes == (0, 1, 2)
    np.testing.assert_allclose(loaded.predict_proba(inputs[:20].numpy()).to_numpy(), expected, atol=1e-7)


def test_outputs_that_match_no_labels_are_refused_naming_y_example() -> None:
    _, inputs, _ = TORCH_MODELS["sigmoid-tensor"]()
    with shipyard.start_run(), pytest.raises(shipyard.ValidationError, match="answers 3 numbers per row") as refused:
        shipyard.log_model(nn.Linear(30, 3), input_example=inputs)
    assert refused.value.field == "y_example" and "\n" not in str(refused.value)


def _rewrite(program: bytes, change: Callable[[str, bytes], bytes]) -> bytes:
    """The archive with each file's bytes passed through ``change`` (name, bytes)."""
    source, written = zipfile.ZipFile(io.BytesIO(program)), io.BytesIO()
    with zipfile.ZipFile(written, "w", zipfile.ZIP_STORED) as target:
        for name in source.namelist():
            target.writestr(name, change(name, source.read(name)))
    return written.getvalue()


class Payload:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.path),))  # unpickling creates the directory


def _pickled_weight(marker: Path) -> Callable[[str, bytes], bytes]:
    def change(name: str, data: bytes) -> bytes:
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            next(iter(config["config"].values()))["use_pickle"] = True
            return json.dumps(config).encode()
        return pickle.dumps(Payload(marker)) if name.endswith("weights/weight_0") else data
    return change


def _program_json(edit: Callable[[dict[str, Any]], None]) -> Callable[[str, bytes], bytes]:
    def change(name: str, data: bytes) -> bytes:
        if not name.endswith("models/model.json"):
            return data
        program = json.loads(data)
        edit(program)
        return json.dumps(program).encode()
    return change


def _first_node(target: str) -> Callable[[dict[str, Any]], None]:
    def edit(program: dict[str, Any]) -> None:
        program["graph_module"]["graph"]["nodes"][0]["target"] = target
    return edit


def test_a_crafted_program_never_runs_code(tmp_path: Path) -> None:
    marker, control = tmp_path / "ran", tmp_path / "control"
    info, *_ = _log("sigmoid-tensor")
    program = package.run_artifacts.read_artifact(package.current_store(), info.run_id, "model/model.pt2")
    with pytest.raises(RuntimeError):  # torch itself unpickles a weight marked use_pickle: the payload runs
        torch.export.load(io.BytesIO(_rewrite(program, _pickled_weight(control))))
    assert control.exists()
    crafted = {
        "a pickled weight": _rewrite(program, _pickled_weight(marker)),
        "guard code": _rewrite(program, _program_json(
            lambda found: found.update(guards_code=[f"__import__('os').mkdir({str(marker)!r})"]))),
        "an attribute getter": _rewrite(program, _program_json(_first_node("_operator.attrgetter"))),
        "torch.os.system": _rewrite(program, _program_json(_first_node("torch.os.system"))),
        "a shared library": _with_file(program, "archive/data/aotinductor/model/model.so", b"\x7fELF"),
    }
    reasons = {"a pickled weight": "stores '0.weight' as a pickle", "guard code": "guard code",
               "an attribute getter": "calls '_operator.attrgetter'", "torch.os.system": "calls 'torch.os.system'",
               "a shared library": "which torch.export.save does not write"}
    for what, data in crafted.items():
        swapped = relog(info.uri, what.replace(" ", "-").replace(".", "-"), files={"model.pt2": data})
        for trust in ((), True):
            with pytest.raises(shipyard.ValidationError) as refused:
                shipyard.load_model(swapped, trust=trust)
            message = str(refused.value)
            assert "loading its program would run Python" in message and reasons[what] in message, (what, message)
            assert "\n" not in message
    assert not marker.exists()


def _with_file(program: bytes, name: str, data: bytes) -> bytes:
    written = io.BytesIO(program)
    with zipfile.ZipFile(written, "a") as archive:
        archive.writestr(name, data)
    return written.getvalue()


def test_a_program_swapped_outside_shipyard_is_refused_by_its_hash(tmp_path: Path, isolated_store: Path) -> None:
    info, *_ = _log("sigmoid-tensor")
    digest = shipyard.load_model(info.uri).manifest["files"]["model.pt2"]["hash"]
    path = isolated_store / "objects" / digest[:2] / digest[2:]
    path.write_bytes(_rewrite(path.read_bytes(), _pickled_weight(tmp_path / "ran")))
    with pytest.raises(shipyard.IntegrityError, match="model/model.pt2"):
        shipyard.load_model(info.uri)
    assert not (tmp_path / "ran").exists()


def test_without_torch_loading_names_the_extra(run_python) -> None:  # type: ignore[no-untyped-def]
    info, *_ = _log("regressor")
    code = f"""
import sys
sys.modules["torch"] = None  # torch is not installed, as far as this process can tell
import shipyard
try:
    shipyard.load_model({info.uri!r})
except shipyard.errors.MissingExtraError as exc:
    print(exc.extra, "|", exc)
"""
    done = run_python(code)
    extra, _, message = done.stdout.strip().partition(" | ")
    assert extra == "torch", done.stdout
    assert message.startswith(f"Loading {info.uri}, a PyTorch model, needs the 'torch' extra"), message


def test_a_package_from_another_minor_version_warns_naming_both() -> None:
    info, model, example, _ = _log("regressor")
    libraries = {**shipyard.load_model(info.uri).manifest["libraries"], "torch": "2.11.0+cpu"}
    older = relog(info.uri, "older", manifest={"libraries": libraries})
    loaded, messages = load_with_warnings(older, "torch")
    assert any(f"saved with torch 2.11.0+cpu but torch {torch.__version__} is installed" in text
               for text in messages), messages
    np.testing.assert_allclose(loaded.predict(example), network_answers(model, example, classifier=False)["predict"],
                               atol=1e-6)


def test_the_caller_s_network_keeps_its_training_mode() -> None:
    net, inputs, labels = TORCH_MODELS["sigmoid-tensor"]()
    net.train()
    with shipyard.start_run():
        shipyard.log_model(net, input_example=inputs, y_example=labels)
    assert net.training
    frame, _ = cancer()
    assert len(frame) == len(inputs)


def test_a_server_runs_the_network_with_one_thread_in_the_calling_thread_only() -> None:
    import threading

    from shipyard.serving.runtime import load_runner
    from shipyard.store import current_store

    info, model, example, _ = _log("regressor")
    runner = load_runner(current_store(), info.uri, "python")
    assert runner.loaded.model.threads == 1 and runner.runtime == "python"
    before, seen = torch.get_num_threads(), {}

    def serve() -> None:
        seen["answer"] = runner.loaded.predict(example[:32])
        seen["threads"] = torch.get_num_threads()

    worker = threading.Thread(target=serve)
    worker.start()
    worker.join(timeout=60)
    assert seen["threads"] == 1 and torch.get_num_threads() == before  # the caller's own threads are untouched
    np.testing.assert_allclose(seen["answer"], network_answers(model, example[:32], classifier=False)["predict"],
                               atol=1e-6)


def test_onnx_export_refuses_text_labels_in_one_line(tmp_path: Path) -> None:
    from shipyard.models.api import export_onnx

    _, inputs, labels = TORCH_MODELS["sigmoid-tensor"]()
    named = np.where(labels.numpy() > 0.5, "benign", "malignant")
    with shipyard.start_run():
        info = shipyard.log_model(nn.Linear(30, 2), input_example=inputs, y_example=named)
    assert shipyard.load_model(info.uri).signature.output.classes == ("benign", "malignant")
    with pytest.raises(shipyard.ValidationError, match="are not integers") as refused:
        export_onnx(info.uri, tmp_path / "text.onnx")
    assert "\n" not in str(refused.value) and not (tmp_path / "text.onnx").exists()


def test_pickle_stays_available_when_asked_for_and_needs_trust() -> None:
    model, example, _ = TORCH_MODELS["regressor"]()
    with shipyard.start_run():
        info = shipyard.log_model(model, input_example=example, serializer="pickle")
    with pytest.raises(shipyard.ValidationError, match="trust=True"):
        shipyard.load_model(info.uri)
    loaded = shipyard.load_model(info.uri, trust=True)
    assert loaded.manifest["serializer"] == "pickle" and loaded.manifest["flavor"] == "torch"
    np.testing.assert_allclose(loaded.predict(example), network_answers(model, example, classifier=False)["predict"],
                               atol=1e-6)


def test_an_example_the_network_cannot_take_is_refused_in_one_line() -> None:
    net, inputs, labels = TORCH_MODELS["sigmoid-tensor"]()
    frame, target = cancer()
    with shipyard.start_run():
        with pytest.raises(shipyard.ValidationError, match=r"refused the input example, a \(569, 29\)") as refused:
            shipyard.log_model(net, input_example=inputs[:, 1:], y_example=labels)
        assert refused.value.field == "input_example" and "\n" not in str(refused.value)
        with pytest.raises(shipyard.ValidationError, match="column 'size' of the input example") as refused:
            shipyard.log_model(net, input_example=frame.iloc[:, :29].assign(size="large"), y_example=target)
        assert refused.value.field == "size"
