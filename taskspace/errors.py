"""The one error type users see: a single line that names the key, member, file or line at fault."""


class TaskspaceError(Exception):
    """Bad input. The message is one line and names what is wrong and where."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
