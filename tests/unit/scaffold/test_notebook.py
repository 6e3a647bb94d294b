"""A notebook's code as a draft module (magics and shell escapes commented out), and the project's notebook."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import NotFoundError, ValidationError
from shipyard.scaffold.notebook import draft_from_notebook, notebook_from_percent, read_notebook


def notebook(*cells: tuple[str, str | list[str]], language: str = "python") -> dict[str, Any]:
    return {"cells": [{"cell_type": kind, "metadata": {}, "source": source,
                       **({"outputs": [], "execution_count": number} if kind == "code" else {})}
                      for number, (kind, source) in enumerate(cells, 1)],
            "metadata": {"kernelspec": {"name": "k", "language": language, "display_name": "K"}},
            "nbformat": 4, "nbformat_minor": 5}


def body(*cells: tuple[str, str]) -> list[str]:
    """The draft's lines after the header, without blank lines and cell markers."""
    draft = draft_from_notebook(notebook(*cells), source_name="a.ipynb", package="churn")
    lines = draft.text.split("# ruff: noqa\n", 1)[1].splitlines()
    return [line for line in lines if line and not re.match(r"# %% (cell \d|\[markdown\])", line)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("%matplotlib inline", "# %matplotlib inline  <- IPython magic: Jupyter only"),
        ("%pip install shap", "# %pip install shap  <- IPython magic: Jupyter only; list the package in "
                              "pyproject.toml's dependencies instead"),
        ("%run helpers.py", "# %run helpers.py  <- IPython magic: Jupyter only; import the module instead"),
        ("!pip install xgboost", "# !pip install xgboost  <- shell escape: Jupyter only; list the package in "
                                 "pyproject.toml's dependencies instead"),
        ("!ls data", "# !ls data  <- shell escape: Jupyter only; use subprocess, or a Makefile target"),
        ("files = !ls", "# files = !ls  <- shell escape: Jupyter only; use subprocess, or a Makefile target"),
        ("timing = %timeit -o f()", "# timing = %timeit -o f()  <- IPython magic: Jupyter only"),
        ("df.merge?", "# df.merge?  <- IPython help: Jupyter only"),
        ("??print", "# ??print  <- IPython help: Jupyter only"),
        ("x = 7 % 3", "x = 7 % 3"),
        ("ok = a != b", "ok = a != b"),
        ("print('100%!')", "print('100%!')"),
    ],
)
def test_each_line_that_is_not_python_is_commented_out_with_the_reason(line: str, expected: str) -> None:
    assert body(("code", line)) == [expected]


def test_an_indented_magic_becomes_pass_so_its_block_stays_valid() -> None:
    lines = body(("code", "for name in names:\n    !wc -l {name}\n"))
    assert lines == ["for name in names:",
                     "    pass  # !wc -l {name}  <- shell escape: Jupyter only; use subprocess, or a Makefile target"]


def test_a_python_cell_magic_loses_only_its_first_line() -> None:
    assert body(("code", "%%time\ntotal = sum(values)\n%who")) == [
        "# %%time  <- cell magic %%time: Jupyter only; the Python below it is kept",
        "total = sum(values)",
        "# %who  <- IPython magic: Jupyter only",
    ]


def test_any_other_cell_magic_comments_out_the_whole_cell() -> None:
    assert body(("code", "%%bash\necho hi\nls -l")) == [
        "# %%bash  <- cell magic %%bash: this cell is not Python, so all of it is commented out",
        "# echo hi",
        "# ls -l",
    ]


def test_markdown_becomes_comments_and_empty_or_raw_cells_are_skipped() -> None:
    draft = draft_from_notebook(notebook(("markdown", ["# Title\n", "Some words"]), ("code", ""), ("raw", "x = 1"),
                                         ("code", ["import pandas as pd\n", "df = pd.DataFrame()"])),
                                source_name="a.ipynb", package="churn")
    assert "# %% [markdown] cell 1\n# # Title\n# Some words\n" in draft.text
    assert "# %% cell 4 (In [4])\nimport pandas as pd\ndf = pd.DataFrame()\n" in draft.text
    assert "x = 1" not in draft.text
    assert (draft.code_cells, draft.commented_lines, draft.syntax_error) == (1, 0, None)


def test_the_header_calls_it_a_draft_and_says_where_the_parts_go() -> None:
    draft = draft_from_notebook(notebook(("code", "%matplotlib inline\nx = 1")), source_name="eda.ipynb",
                                package="churn")
    header = draft.text.split("# ruff: noqa", 1)[0]
    assert header.startswith("# DRAFT: the 1 code cell(s) of eda.ipynb, copied by `shipyard init --from-notebook`.")
    assert "churn/prepare.py" in header and "churn/train.py" in header and "churn/evaluate.py" in header
    assert "# 1 line(s) are commented out, each with the reason" in header
    compile(draft.text, "draft", "exec")


def test_a_draft_that_still_does_not_parse_says_where() -> None:
    draft = draft_from_notebook(notebook(("code", "x = (1,\n")), source_name="a.ipynb", package="churn")
    assert draft.syntax_error is not None and draft.syntax_error.startswith("line ")


def write(path: Path, content: Any) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_reading_a_good_notebook(tmp_path: Path) -> None:
    path = write(tmp_path / "a.ipynb", notebook(("code", "x = 1")))
    assert read_notebook(path)["cells"][0]["source"] == "x = 1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"cells": [', r"a.ipynb is not a Jupyter notebook: not valid JSON \(line 1, column 12"),
        ({"nbformat": 3, "worksheets": []}, r"has no list of 'cells'. It is nbformat 3; convert it with `jupyter"),
        ([1, 2], r"is not a Jupyter notebook \(nbformat 4\): it has no list of 'cells'\.$"),
        ({"cells": [], "nbformat": 5}, r"is not a Jupyter notebook in nbformat 4 \(its 'nbformat' is 5\)"),
        ({"cells": [{"source": "x"}], "nbformat": 4}, r"cell 1 has no 'cell_type' or 'source'"),
        (notebook(("code", "x <- 1"), language="R"), r"a.ipynb is a notebook in 'R', not Python"),
    ],
)
def test_a_file_that_is_not_a_python_notebook_is_refused_by_name(tmp_path: Path, content: Any, message: str) -> None:
    path = write(tmp_path / "a.ipynb", content)
    with pytest.raises(ValidationError, match=message) as caught:
        read_notebook(path)
    assert caught.value.exit_code == 2 and str(path) in caught.value.message


def test_a_missing_notebook_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        read_notebook(tmp_path / "nope.ipynb")


def test_percent_text_becomes_valid_nbformat_4() -> None:
    nbformat = pytest.importorskip("nbformat")
    made = notebook_from_percent("ignored\n# %% [markdown]\n# # Title\n#\n# Words\n\n# %%\nx = 1\nx\n\n# %%\ny = 2\n")
    nbformat.validate(nbformat.from_dict(made))
    assert [(cell["cell_type"], "".join(cell["source"])) for cell in made["cells"]] == [
        ("markdown", "# Title\n\nWords"), ("code", "x = 1\nx"), ("code", "y = 2")]
    assert len({cell["id"] for cell in made["cells"]}) == 3
