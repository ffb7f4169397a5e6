"""Whether a process of this machine that took a lease is certainly gone.

A lease names its driver's process (``owner_tag``): the pid and, on Linux, what makes that pid
one process and no other: the boot (``/proc/sys/kernel/random/boot_id``), the pid namespace
(``/proc/self/ns/pid``: a container has its own) and the process's start time
(``/proc/PID/stat``). :func:`is_gone` answers True only when that is sure:

- Linux: the machine booted since, or in the same boot and pid namespace no process with that
  pid and start time exists;
- other POSIX systems (macOS): no process has that pid (``kill(pid, 0)``, which sends
  nothing); a reused pid counts as alive;
- Windows, a tag of another kind, a different pid namespace, anything unreadable: False, and
  the lease's expiry decides as before.

The caller compares host names first: a pid means nothing on another machine.
"""

from __future__ import annotations

import contextlib
import os
import sys
from functools import cache
from pathlib import Path


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    stat = _read(f"/proc/{pid}/stat")
    if stat is None or ")" not in stat:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of the whole line


def _pid_namespace() -> str | None:
    with contextlib.suppress(OSError):
        return str(Path("/proc/self/ns/pid").readlink())
    return None


@cache
def _linux_identity() -> tuple[str, str] | None:
    boot, ns = _read("/proc/sys/kernel/random/boot_id"), _pid_namespace()
    if not boot or not ns:
        return None
    return boot, ns


def _on_linux() -> bool:
    return sys.platform.startswith("linux")


def owner_tag() -> str:
    """This process, as a lease records it: ``pid`` or, on Linux, ``pid/boot/ns/start``."""
    pid = os.getpid()
    if sys.platform == "linux":
        ident, start = _linux_identity(), _start_time(pid)
        if ident is not None and start is not None:
            return f"{pid}/{ident[0]}/{ident[1]}/{start}"
    return str(pid)


def is_gone(tag: str) -> bool:
    """True only when the process ``tag`` names (from :func:`owner_tag` on this machine) is
    certainly no longer running."""
    parts = tag.split("/")
    if not parts[0].isdigit():
        return False
    pid = int(parts[0])
    if pid <= 0 or tag == owner_tag():
        return False
    if os.name == "nt":  # (os.name, not sys.platform: the same on every checker's platform)
        return False
    if _on_linux():
        ident = _linux_identity()
        if len(parts) != 4 or ident is None:
            return False
        boot, ns, start = parts[1], parts[2], parts[3]
        if boot != ident[0]:
            return True  # the machine booted since: every process of then is gone
        if ns != ident[1]:
            return False  # another container's pid: nothing can be said
        return _start_time(pid) != start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False
