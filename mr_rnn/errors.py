"""The one base of every error a user can act on.

Each module raises its own subclass (ConfigError, CheckpointError, ...), whose
message names the problem and the fix; ``cli.main`` turns any of them into one
line on stderr and the class's exit code (docs/design.md §3.6). Task side:
Python 3.8+ (docs/design.md §7).
"""


class MrRnnError(Exception):
    """An error with a message for the user; ``exit_code`` is what mr-rnn exits with."""
    exit_code = 2


class UserError(MrRnnError):
    """A mistake on the command line that no more specific class describes."""
