"""The ``corral`` command line: argument parsing (``main``), the commands, and the exit-code
contract (``errors``) that the commands import."""
