"""The continuous improvement loop: loops in shipyard.yaml, cycles (repro -> register -> promote) under a
per-loop lock, the scheduler that runs them on schedules and monitoring alerts, and the Airflow export."""
