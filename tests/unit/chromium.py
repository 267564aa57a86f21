"""A minimal DevTools-protocol client for headless Chromium (Debian's package), for tests
that must see a page as a browser draws it.

The browser is driven over `--remote-debugging-pipe` (commands on its fd 3, replies on fd 4,
JSON messages ended by NUL): no port, no websocket library. Every wait has a deadline, and
the browser process is killed on exit whatever happened, so a hung browser fails the test
instead of hanging it.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["Chromium", "ChromiumError", "find_chromium"]


class ChromiumError(RuntimeError):
    """The browser did not answer in time, exited, or reported a protocol error."""


def find_chromium() -> str:
    """The chromium binary; scripts/chromium ensure installs it (scripts/test calls it)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise ChromiumError("no chromium on PATH: run scripts/chromium ensure")
    return binary


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends are numbered 10 or above, so that putting them on 3 and 4 in the
    child cannot overwrite one with the other (`3<&4 4>&3` would)."""
    ends = []
    for end in os.pipe():
        ends.append(fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(end)
    return ends[0], ends[1]


@dataclass
class Chromium:
    """One headless browser with one page (a flattened session on a new target)."""

    timeout_seconds: float = 60.0
    events: list[dict[str, Any]] = field(default_factory=list)
    _process: subprocess.Popen[bytes] | None = None
    _to_browser: int = -1
    _from_browser: int = -1
    _buffer: bytes = b""
    _next_id: int = 0
    _session: str | None = None
    _profile: tempfile.TemporaryDirectory[str] | None = None
    _log: Path | None = None

    def __enter__(self) -> Chromium:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)  # the browser may be running already
            raise
        return self

    def _start(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="tierstream-chromium-")
        commands_read, self._to_browser = _high_pipe()
        self._from_browser, replies_write = _high_pipe()
        self._log = Path(self._profile.name) / "chromium-stderr.log"
        # Bash puts the pipe ends on fds 3 and 4, where Chromium expects them, and execs
        # the browser: no preexec_fn (fork with threads is unsafe and warned about in 3.12+).
        stderr = self._log.open("wb")  # the child keeps its own copy; ours closes below
        self._process = subprocess.Popen(
            [
                "/bin/bash",  # dash cannot redirect from fds above 9
                "-c",
                'commands=$1 replies=$2; shift 2; exec "$@" 3<&"$commands" 4>&"$replies"',
                "bash",
                str(commands_read),
                str(replies_write),
                find_chromium(),
                "--headless",
                "--no-sandbox",  # tests run as root, where the sandbox cannot start
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--hide-scrollbars",
                "--mute-audio",
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            pass_fds=(commands_read, replies_write),
        )
        stderr.close()
        os.close(commands_read)
        os.close(replies_write)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if self._process is not None and self._process.poll() is None:
                self._session = None
                self.call("Browser.close", timeout_seconds=10)
        except (ChromiumError, OSError):
            pass
        finally:
            for fd in (self._to_browser, self._from_browser):
                if fd >= 0:
                    os.close(fd)
            if self._process is not None:
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=10)
            if self._profile is not None:
                self._profile.cleanup()

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChromiumError("browser did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                log = self._log.read_text(errors="replace")[-1000:] if self._log else ""
                raise ChromiumError(f"browser closed the protocol pipe (exited?); stderr: {log}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Send a command (to the page session once attached) and return its result; events
        that arrive meanwhile are kept in `events`."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session is not None:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout_seconds or self.timeout_seconds)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ChromiumError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, event: str) -> dict[str, Any]:
        """The first event named `event` (already received or the next one to come)."""
        for received in self.events:
            if received["method"] == event:
                return received
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            reply = self._read_message(deadline)
            if "method" in reply:
                self.events.append(reply)
                if reply["method"] == event:
                    return reply

    def open(self, path: Path, width: int = 1100) -> None:
        """Load a local file in a `width`-pixel wide window (scale 1) and wait for its load
        event; console, log, exception and network events are recorded from the start."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        self.call("Page.navigate", {"url": path.resolve().as_uri()})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page; a thrown error fails."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise ChromiumError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> tuple[int, int]:
        """Save a PNG of the whole page (not just the window) at scale 1; returns its size in
        CSS pixels."""
        import base64

        width, height = self.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        shot = self.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return width, height

    def problems(self) -> list[str]:
        """Script exceptions, console or log errors, and requests for anything that is not a
        local file or inline data (the report must open without a network)."""
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                thrown = details.get("exception", {}).get("description", "")
                found.append(f"exception: {details.get('text')} {thrown}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(f"console error: {params.get('args')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"log error: {params['entry'].get('text')}")
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("file:", "data:")):
                    found.append(f"request: {url}")
        return found
