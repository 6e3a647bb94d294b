"""MLflow clients reading Shipyard's registry through the server, and moving aliases under the role rules.

Versions are registered the Shipyard way (``shipyard.log_model`` + ``register_model`` on the team database); MLflow's
``search_model_versions``, ``get_model_version_by_alias`` and ``set_registered_model_alias`` then work on them. The
protected ``champion`` alias moves only for an admin, and the registry's audit log names the token that moved it.
Loading a Shipyard-logged version with an MLflow flavor is refused by name (it has no MLflow files).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import shipyard
from shipyard.models.registry import alias_history
from tests._tiny_model import tiny_frame, tiny_pipeline
from tests.integration.server.conftest import Team

pytestmark = pytest.mark.slow

READ_AND_ALIAS = r'''
import json, sys
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
client = MlflowClient()
alias = sys.argv[1] if len(sys.argv) > 1 else "staging"
out = {"versions": sorted((v.name, v.version, v.run_id) for v in client.search_model_versions("name='churn'")),
       "models": [m.name for m in client.search_registered_models()]}
try:
    client.set_registered_model_alias("churn", ALIAS, 2)
    out["moved"] = client.get_model_version_by_alias("churn", ALIAS).version
except MlflowException as exc:
    out["refused"] = [exc.error_code, str(exc)]
for call in (lambda: client.create_registered_model("other"),
             lambda: __import__("mlflow").pyfunc.load_model("models:/churn@" + ALIAS)):
    try:
        call()
    except MlflowException as exc:
        out.setdefault("registration", []).append([exc.error_code, str(exc)[:200]])
print(json.dumps(out))
'''


def _register_two_versions(team: Team) -> list[str]:
    frame, target = tiny_frame()
    shipyard.set_store(team.database, objects=str(team.objects))
    try:
        run_ids = []
        for _ in range(2):
            with shipyard.start_run(experiment="models") as run:
                info = shipyard.log_model(tiny_pipeline().fit(frame, target), input_example=frame.head())
            shipyard.register_model(info, "churn")
            run_ids.append(run.id)
        return run_ids
    finally:
        shipyard.set_store(None)


def test_mlflow_reads_the_registry_and_moves_aliases_by_role(team: Team, run_mlflow: Callable[..., Any]) -> None:
    run_ids = _register_two_versions(team)
    staging = run_mlflow(READ_AND_ALIAS.replace("ALIAS", '"staging"'), team.server.url, team.tokens["writer"])
    assert staging["versions"] == [["churn", "1", run_ids[0]], ["churn", "2", run_ids[1]]]
    assert staging["models"] == ["churn"] and staging["moved"] == "2"
    # An empty registered model is made (MLflow clients do that before their first version); a version logged the
    # Shipyard way has no MLflow files to load: refused by name (test_mlflow_models.py loads MLflow-logged ones).
    assert [code for code, _ in staging["registration"]] == ["NOT_IMPLEMENTED"]
    assert "Shipyard model package" in staging["registration"][0][1]

    champion = '"champion"'
    by_writer = run_mlflow(READ_AND_ALIAS.replace("ALIAS", champion), team.server.url, team.tokens["writer"])
    assert by_writer["refused"][0] == "PERMISSION_DENIED" and "needs the admin role" in by_writer["refused"][1]
    by_admin = run_mlflow(READ_AND_ALIAS.replace("ALIAS", champion), team.server.url, team.tokens["admin"])
    assert by_admin["moved"] == "2"

    store = shipyard.set_store(team.database, objects=str(team.objects))
    assert store is not None
    try:
        events = [(event.alias, event.to_version, event.actor) for event in alias_history(store, "churn")]
    finally:
        shipyard.set_store(None)
    assert events == [("staging", 2, "writer-person"), ("champion", 2, "admin-person")]
