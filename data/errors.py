"""The project's one error type for bad input: a file or argument the user gave is wrong."""


class InputError(ValueError):
    """Bad user input (a malformed file, an unknown id, an impossible option); the message names it.

    A ``ValueError``, so callers that catch ``ValueError`` today still catch it.
    """
