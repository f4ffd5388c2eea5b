"""Cases, evidence vault, chain of custody, event store, users and run history."""


class CyberclaimError(Exception):
    """A problem the user can act on; the CLI prints it as one line, no traceback."""
