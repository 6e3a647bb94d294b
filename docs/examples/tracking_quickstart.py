"""Tracking quickstart: a small sweep as nested runs, then a search. Executed by tests/unit/test_docs.py."""

import shipyard

with shipyard.start_run(experiment="quickstart", name="sweep") as sweep:
    for alpha in (0.1, 0.5, 1.0):
        with shipyard.start_run(name=f"alpha-{alpha}"):
            shipyard.log_params({"alpha": alpha, "l1_ratio": 0.5})
            for epoch in range(20):
                shipyard.log_metric("loss", (1 - alpha / 2) / (epoch + 1), step=epoch)
            shipyard.log_metrics({"mae": 0.3 * alpha, "r2": 1 - 0.2 * alpha})

best = shipyard.search_runs(experiment="quickstart", filter="metrics.r2 > 0.85 and params.l1_ratio = 0.5",
                            order_by=["metrics.r2 DESC"])
print(best[["name", "params.alpha", "metrics.r2"]].to_string(index=False))
print("history points:", len(shipyard.metric_history(best.loc[0, "run_id"], "loss")))
print("parent:", shipyard.get_run(best.loc[0, "run_id"]).parent_id == sweep.id)
