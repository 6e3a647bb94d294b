"""Monitoring: compares live traffic and feedback with the training profile stored with each model version
(input drift, the model's own output distribution and confidence, quality once labels arrive, A/B
significance), starting from the pure statistics in ``monitoring.stats``; the package is imported only by
the commands and servers that monitor, so ``import shipyard`` stays light."""
