"""Is there a display to open a window on? Asked before OpenCV creates one.

OpenCV's highgui (the Qt backend in the opencv-python wheels) aborts the whole process when it
cannot reach a display ("could not connect to display", "no Qt platform plugin could be
initialized ... Reinstalling the application may fix this problem", exit 134). This module
checks first and says what is missing in one line, so the command can exit cleanly.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Mapping

#: Qt platforms that need no X server or compositor
_HEADLESS_QT = frozenset({"offscreen", "minimal", "vnc", "eglfs", "linuxfb"})


def display_problem(env: Mapping[str, str] | None = None, *, timeout_s: float = 2.0) -> str:
    """Why no window can open, in one line; ``""`` when a display is reachable.

    On Linux: ``QT_QPA_PLATFORM`` naming a headless platform is fine; a Wayland socket is
    fine; otherwise ``DISPLAY`` must be set and its X server must accept a connection (its
    Unix socket ``/tmp/.X11-unix/XN`` or TCP port 6000 + N).
    """
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return ""
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0]
    if qpa in _HEADLESS_QT:
        return ""
    if qpa.startswith("wayland") or (not qpa and env.get("WAYLAND_DISPLAY")):
        runtime = env.get("XDG_RUNTIME_DIR", "")
        name = env.get("WAYLAND_DISPLAY", "wayland-0")
        path = name if name.startswith("/") else os.path.join(runtime, name)
        if _connects_unix(path, timeout_s):
            return ""
        if qpa:
            return f"QT_QPA_PLATFORM={qpa} but no Wayland compositor answers at {path}"
    display = env.get("DISPLAY", "")
    if not display:
        return "no display: $DISPLAY is not set (run it on the station's desktop, or under Xvfb)"
    host, number = _parse_display(display)
    if number is None:
        return f"$DISPLAY={display!r} is not a display name such as ':0' or 'host:0.0'"
    if host in ("", "unix"):
        if _connects_unix(f"/tmp/.X11-unix/X{number}", timeout_s) or _connects_unix(
            f"\0/tmp/.X11-unix/X{number}", timeout_s
        ):
            return ""
        return f"$DISPLAY={display}: no X server is listening there (is the desktop running?)"
    try:
        with socket.create_connection((host, 6000 + number), timeout=timeout_s):
            return ""
    except OSError as exc:
        return f"$DISPLAY={display}: cannot reach the X server ({exc.strerror or exc})"


def _parse_display(display: str) -> tuple[str, int | None]:
    host, sep, rest = display.rpartition(":")
    if not sep:
        return "", None
    number = rest.split(".")[0]
    return host, int(number) if number.isdigit() else None


def _connects_unix(path: str, timeout_s: float) -> bool:
    """True when something accepts a connection on the Unix socket ``path``. A socket file
    that refuses is retried until ``timeout_s`` (a server that is just starting binds its
    socket a moment before it listens); no socket file at all is an immediate False."""
    if not path or (not path.startswith("\0") and not os.path.exists(path)):
        return False
    deadline = time.monotonic() + timeout_s
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout_s)
        try:
            s.connect(path)
            return True
        except OSError:
            if path.startswith("\0") or time.monotonic() >= deadline:
                return False  # an abstract socket leaves no file: nothing tells it is starting
        finally:
            s.close()
        time.sleep(0.1)
