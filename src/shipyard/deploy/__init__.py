"""Deployment rendering: Kubernetes and KServe manifests for ``serving.yaml`` (``shipyard k8s render``).

Manifests are plain data built in Python (:mod:`.options` checks the flags, :mod:`.pod` holds what every
container shares: security, probes, the store's environment, :mod:`.kubernetes` the serving objects,
:mod:`.jobs` the monitoring CronJobs and the loop scheduler, :mod:`.kserve` the InferenceService) and
written with PyYAML by :mod:`.writer`. Nothing here talks to a cluster.
"""
