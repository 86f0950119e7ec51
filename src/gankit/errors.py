"""The user-facing error type: the CLI prints its message as one `error:` line."""


class GankitError(Exception):
    """A problem with the user's input or files, explained in one line."""
