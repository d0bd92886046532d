"""Errors the CLI turns into one clear line and an exit status."""
import signal


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class Interrupted(KeyboardInterrupt):
    """Stopped by a signal (SIGINT, SIGTERM, SIGHUP): exit status 128 + its number, as a shell reports it.
    A KeyboardInterrupt, so every path that handles Ctrl-C handles the others alike."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)
