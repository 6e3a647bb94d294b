"""A shipyard.PythonModel: stored as a code reference, its source hash, config and files; loaded only with trust.
Executed by the tests."""

import json

import numpy as np
import pandas as pd
from churn_rules.model import TenureRule  # a module: another process must be able to import the class

import shipyard

customers = pd.DataFrame({"tenure": [2, 40, 10, 70], "contract": ["Month-to-month", "One year",
                                                                  "Month-to-month", "Two year"]})
with open("cutoffs.json", "w") as file:
    json.dump({"Month-to-month": 24, "One year": 6, "Two year": 0}, file)

rule = TenureRule("cutoffs.json")
with shipyard.start_run(experiment="rules"):
    info = shipyard.log_model(rule, "rule", input_example=customers)
try:
    shipyard.load_model(info.uri)
except shipyard.ValidationError as refused:
    print("without trust:", refused.field)
loaded = shipyard.load_model(info.uri, trust=["churn_rules.model:TenureRule"])
same = np.array_equal(loaded.predict_proba(customers).to_numpy(), rule.predict_proba(customers))
print(f"rule: {loaded.manifest['flavor']} ({loaded.manifest['serializer']}), trusted "
      f"{loaded.manifest['untrusted_types']}, files {sorted(loaded.manifest['files'])}, same probabilities: {same}")
