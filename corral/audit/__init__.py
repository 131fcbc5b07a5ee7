"""What is deployed, read through boto3: the read-only connection, ``verify``, ``sweep``, one
module per check, findings and reports, and the catalog refresh. Never imports ``corral.cli``."""
