"""The one exception type that stages turn into a one-line message."""


class UserError(Exception):
    """Bad input from the user (params, files, archives): reported as one line, no traceback."""
