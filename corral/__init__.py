"""corral: AWS guardrails as code on Pulumi (see README.md)."""

__version__ = "0.1.0"
