"""Online serving: deployments of registered models behind HTTP, with A/B and shadow traffic,
micro-batching, a prediction log, feedback and Prometheus metrics. ``create_app`` builds the ASGI app;
``server.serve`` runs it; ``predlog.prediction_log`` reads what it answered."""
