"""What a connection to AWS defaults to. Only constants: the command line reads them to
build its parser without loading botocore."""

from __future__ import annotations

DEFAULT_ROLE_NAME = "OrganizationAccountAccessRole"
# Retries after the first attempt, in botocore's adaptive mode (throttling).
DEFAULT_MAX_ATTEMPTS = 8
# Attempts of the first call of a run (sts:GetCallerIdentity): when it cannot be made,
# nothing else can, so the run stops in seconds with the cause instead of backing off.
FIRST_CALL_ATTEMPTS = 2
# Seconds to wait for a connection, and then for each answer, per attempt.
DEFAULT_TIMEOUT = 10.0
CONNECT_TIMEOUT_CAP = 5.0
# Concurrent calls through one connection. Calls mostly wait on the network: with one
# client per service and no lock held while a client is built, 48 workers swept fastest
# on 2 cores (bench/bench_sweep.py); the connection pool holds as many connections.
DEFAULT_WORKERS = 48
# Environment variable AWS's own tools read for the attempt budget (total attempts).
MAX_ATTEMPTS_ENV = "AWS_MAX_ATTEMPTS"
