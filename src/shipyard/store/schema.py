"""Tables of the metadata database (SQLAlchemy Core, portable between SQLite and PostgreSQL).

Times are integer milliseconds since the epoch (UTC). A metric value of NaN is stored as NULL because
SQLite cannot hold NaN; readers turn NULL back into NaN. Infinities are stored as they are.
Key-value tables are clustered on their primary key in SQLite (``WITHOUT ROWID``): a run's params,
tags and latest metrics then sit together on disk, which halves the lookups of a search.
The Alembic migrations in ``migrations/versions`` create exactly these tables; a test compares them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# The values of ``runs.status``; tracking/runs.py names them, the reaper (store/reaper.py) ends runs with KILLED.
RUN_RUNNING, RUN_FINISHED, RUN_FAILED, RUN_KILLED = RUN_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

environments = Table(
    "environments",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("python", String(50), nullable=False),
    Column("packages", Text, nullable=False),  # JSON list of "name==version", sorted
    Column("created_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("parent_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("error", Text, nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("git_branch", String(250), nullable=True),
    Column("git_dirty", Boolean, nullable=True),
    Column("git_diff_hash", String(64), nullable=True),
    Column("git_root", Text, nullable=True),
    Column("environment_hash", String(64), ForeignKey("environments.hash"), nullable=True),
    Column("python_version", String(50), nullable=True),
    Column("os", String(250), nullable=True),
    Column("host", String(250), nullable=True),
    Column("user_name", String(250), nullable=True),
    Column("command", Text, nullable=True),
    Column("pid", Integer, nullable=True),
    # Creation order, for runs started within the same millisecond (sweeps); added in migration 0003.
    Column("seq", Integer, nullable=True),
    # Migration 0006: which process owns a RUNNING run and when it last said it was alive (store/reaper.py).
    # ``process_start`` tells the owner apart from a later process given the same pid (store/processes.py).
    Column("process_start", String(100), nullable=True),
    Column("heartbeat_at", BigInteger, nullable=True),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_seq", "seq"),
    Index("ix_runs_parent", "parent_id"),
    Index("ix_runs_status", "status"),  # the reaper looks for RUNNING runs each time a store opens
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    sqlite_with_rowid=False,
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    sqlite_with_rowid=False,
)

# Every logged point; no primary key so that a step may be logged twice, as in MLflow.
metrics = Table(
    "metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("value", Float, nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

# The value at the highest step of each metric, kept up to date on every flush so that search and
# ordering never scan the history.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Float, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# Migration 0013: which param and metric keys each experiment's runs have (the UI's column picker), kept by
# every write of a param or metric in the same transaction (tracking/key_catalogue.py), so finding them never
# scans the key tables. Runs are never deleted nor moved between experiments, so no key outlives its runs.
experiment_keys = Table(
    "experiment_keys",
    metadata,
    Column("experiment_id", Integer, ForeignKey("experiments.id"), primary_key=True),
    Column("section", String(16), primary_key=True),  # params | metrics
    Column("key", String(250), primary_key=True),
    sqlite_with_rowid=False,
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("hash", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)


# --- model registry (migration 0002) ---------------------------------------------------------------

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(250), ForeignKey("registered_models.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("manifest_hash", String(64), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=True),
    Index("ix_model_versions_run", "run_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(250), ForeignKey("registered_models.name"), primary_key=True),
    Column("alias", String(250), primary_key=True),
    Column("version", Integer, nullable=False),
)

# Every alias move, promotion decision and hold-back: who, when, from, to, why, with the scores.
alias_events = Table(
    "alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("alias", String(250), nullable=False),
    Column("action", String(20), nullable=False),  # set | delete | promoted | held_back
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String(250), nullable=True),
    Column("at", BigInteger, nullable=False),
    Column("reason", Text, nullable=True),
    Column("details", Text, nullable=True),  # JSON: scores of a promotion decision
    Index("ix_alias_events_name", "name", "at"),
)


# --- pipelines (migration 0003) ---------------------------------------------------------------------

# What a file hashed to when it had this inode, size, mtime and ctime: unchanged files are never re-read.
stat_cache = Table(
    "stat_cache",
    metadata,
    Column("path", String(4000), primary_key=True),
    Column("inode", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("ctime_ns", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    sqlite_with_rowid=False,
)


# --- loops (migration 0004; cycle_key 0005) ---------------------------------------------------------

# One row per cycle of a loop: what started it, each step's result (runs, versions, decisions) as JSON.
# ``cycle_key`` names a cycle an orchestrator runs one step at a time (Airflow's run id): unique per loop.
loop_cycles = Table(
    "loop_cycles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("loop", String(250), nullable=False),
    Column("number", Integer, nullable=False),
    Column("trigger", Text, nullable=False),
    Column("status", String(20), nullable=False),  # running | succeeded | failed | interrupted
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("steps", Text, nullable=False),
    Column("host", String(250), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("cycle_key", String(250), nullable=True),
    UniqueConstraint("loop", "number", name="uq_loop_cycles_number"),
    Index("ix_loop_cycles_loop", "loop", "started_at"),
    Index("ix_loop_cycles_key", "loop", "cycle_key", unique=True),
)

# Who runs a loop's cycle now; a holder whose heartbeat stopped (a killed scheduler) is taken over.
loop_locks = Table(
    "loop_locks",
    metadata,
    Column("loop", String(250), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("host", String(250), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("acquired_at", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
    Column("process_start", String(100), nullable=True),  # migration 0006, as in runs
)


# --- the team server (migration 0007) ----------------------------------------------------------------

# Who may call `shipyard server`: a name, a role, and a salted hash of the token (the token itself is shown
# once, when created, and never stored). ``id`` is the token's public prefix, so a check reads one row.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(250), nullable=False),
    Column("role", String(16), nullable=False),  # reader | writer | admin
    Column("salt", String(64), nullable=False),
    Column("hash", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Index("ix_api_tokens_name", "name"),
)

# The datasets a run read (MLflow's ``log_input``): identity (name, digest), where they came from, and
# the MLflow context tag ("training", "eval", ...). Schema and profile are the client's JSON text, kept as is.
run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("name", String(500), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("source_type", String(100), nullable=True),
    Column("source", Text, nullable=True),
    Column("schema", Text, nullable=True),
    Column("profile", Text, nullable=True),
    Column("context", String(250), nullable=True),
    Column("created_at", BigInteger, nullable=False),
)


# --- idempotent writes of remote clients (migration 0008) ---------------------------------------------

# One row per write a client of the team server made with an ``Idempotency-Key``: the key (random, chosen by
# the client), who sent it, a hash of the request, and the answer given. A retry of the same request (its
# first answer lost on the way) gets the stored answer and writes nothing again (store/idempotency.py).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("actor", String(250), nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("response", Text, nullable=True),  # the JSON answer, written in the same transaction as the write
    Column("created_at", BigInteger, nullable=False),
    Index("ix_idempotency_keys_created", "created_at"),
)


# --- canary rollouts (migration 0010) ---------------------------------------------------------------------
# One row per rollout: the candidate's weight is read from here by every server process and replica, so
# they all agree; ``checks`` counts the judge's looks. At most one rollout per model and alias is running
# (models/rollouts.py holds the registered model's row lock while it checks).
rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("alias", String(250), nullable=False),  # the primary's alias, moved to the candidate at the end
    Column("candidate", String(250), nullable=False),  # how the candidate was named (an alias or a version)
    Column("primary_version", Integer, nullable=False),
    Column("candidate_version", Integer, nullable=False),
    Column("steps", Text, nullable=False),  # JSON list of weights in percent, such as [5, 25, 50, 100]
    Column("step_index", Integer, nullable=False),
    Column("weight", Float, nullable=False),  # the candidate's share of traffic now, in percent (0 after rollback)
    Column("status", String(20), nullable=False),  # running | completed | rolled_back | aborted
    Column("policy", Text, nullable=False),  # JSON: the judge's settings
    Column("checks", Integer, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("step_started_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("reason", Text, nullable=True),
    Column("last_verdict", Text, nullable=True),  # JSON: the latest check's decision and statistics
    Index("ix_rollouts_name", "name", "status"),
)


# --- bandit routing (migration 0011) ----------------------------------------------------------------------
# ``routing: thompson`` deployments: one row per variant with the running sums of its labelled requests'
# rewards and inverse propensities, read by every server process once a second (models/bandits.py), and one
# row per counted label, whose primary key makes a repeated label count once.
bandit_arms = Table(
    "bandit_arms",
    metadata,
    Column("deployment", String(100), primary_key=True),
    Column("variant", String(100), primary_key=True),
    Column("count", Integer, nullable=False),  # labelled requests
    Column("reward", Float, nullable=False),  # sum r
    Column("weight", Float, nullable=False),  # sum 1/p
    Column("weighted_reward", Float, nullable=False),  # sum r/p
    Column("weight_squares", Float, nullable=False),  # sum 1/p^2
    Column("weight_squares_reward", Float, nullable=False),  # sum r/p^2
    Column("weight_squares_reward_squares", Float, nullable=False),  # sum r^2/p^2
    Column("updated_at", BigInteger, nullable=False),
    # migration 0012: the calibrated P(correct) q of every scored prediction, and of those labelled since
    Column("scored", Integer, nullable=False, server_default="0"),  # predictions that carried q
    Column("scored_expected", Float, nullable=False, server_default="0"),  # sum q
    Column("scored_squares", Float, nullable=False, server_default="0"),  # sum q^2
    Column("labelled_scored", Integer, nullable=False, server_default="0"),  # of them, labelled
    Column("labelled_expected", Float, nullable=False, server_default="0"),  # sum q over the labelled
    Column("labelled_scored_reward", Float, nullable=False, server_default="0"),  # sum r over the labelled
)
bandit_rewards = Table(
    "bandit_rewards",
    metadata,
    Column("deployment", String(100), primary_key=True),
    Column("request_id", String(200), primary_key=True),
    Column("row", Integer, primary_key=True),
    Column("variant", String(100), nullable=False),
    Column("reward", Float, nullable=False),
    Column("propensity", Float, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expected", Float, nullable=True),  # migration 0012: the prediction's q the label replaced, if any
)
