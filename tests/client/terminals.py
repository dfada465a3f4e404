"""A Terminal over in-memory streams, for the client's unit tests."""

from io import StringIO

from django.core.management.base import OutputWrapper

from apps.client.terminal import Terminal


class RecordingTerminal(Terminal):
    """A Terminal whose stdout and stderr can be read back; styles mark their lines."""

    def __init__(self) -> None:
        self.out, self.err = StringIO(), StringIO()
        super().__init__(
            OutputWrapper(self.out),
            OutputWrapper(self.err),
            success=lambda text: f"[ok]{text}",
            warning=lambda text: f"[warning]{text}",
        )

    def stdout_text(self) -> str:
        return self.out.getvalue()

    def stderr_text(self) -> str:
        return self.err.getvalue()
