"""The IAM/SCP policy evaluator (conditions, SCP chains, boundaries) and the probes derived
from a spec. Imports only ``corral.spec`` and ``corral.build``."""
