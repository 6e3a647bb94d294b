"""A notebook stage executed headless by papermill with a real kernel, its params injected."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from shipyard.pipeline.repro import repro
from shipyard.pipeline.status import pipeline_status
from tests.integration.pipeline._pipelines import lock_file, make_project, stage_runs, use_venv_python

SPEC = """\
stages:
  eda:
    notebook: notebooks/eda.ipynb
    params: [eda.threshold]
    outs: [reports/eda.ipynb, reports/out.txt]
"""


def notebook(path: Path) -> None:
    document = nbformat.v4.new_notebook()
    document.cells = [
        nbformat.v4.new_code_cell("threshold = 0.1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import pathlib\npathlib.Path('reports').mkdir(exist_ok=True)\n"
                                  "pathlib.Path('reports/out.txt').write_text(f'threshold={threshold}')"),
    ]
    document.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(document, str(path))


@pytest.mark.slow
def test_a_notebook_stage_runs_with_its_params_and_is_tracked(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    use_venv_python(monkeypatch)
    root = tmp_path / "nb"
    root.mkdir()
    notebook(root / "notebooks" / "eda.ipynb")
    make_project(root, spec=SPEC, params="eda:\n  threshold: 0.7\n")
    outcomes = repro(root=root)
    assert [(outcome.name, outcome.action) for outcome in outcomes] == [("eda", "ran")]
    assert (root / "reports" / "out.txt").read_text() == "threshold=0.7"  # the param reached the notebook
    executed = nbformat.read(str(root / "reports" / "eda.ipynb"), as_version=4)
    assert any("threshold = 0.7" in cell.source for cell in executed.cells)  # papermill's injected cell
    assert lock_file(root)["eda"]["params"] == {"eda.threshold": 0.7}
    assert [run.status for run in stage_runs("nb")] == ["FINISHED"]
    assert [status.state for status in pipeline_status(root)] == ["up to date"]
    (root / "params.yaml").write_text("eda:\n  threshold: 0.2\n")
    assert pipeline_status(root)[0].reasons == ["param eda.threshold 0.7 -> 0.2"]
