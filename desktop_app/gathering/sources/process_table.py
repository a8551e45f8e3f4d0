"""The process table (system/processtable: one row per process), and ending a process on request.

A row is a list [pid, name, user, cpu %, memory (RSS bytes), status, command line, started], in the
order of COLUMNS plus `started`, the process's creation time (epoch s, None if refused), which tells a
process from a later one that reuses its pid. A field the OS refuses (AccessDenied: another user's process) is
None, as is CPU % the first time a process is seen: missing is not zero.
"""
from __future__ import annotations

from typing import Any

from desktop_app.gathering.sources import Priming
from desktop_app.measurement import SeriesKey

COLUMNS = ("pid", "name", "user", "cpu", "memory", "status", "command")
PID, NAME, USER, CPU, MEMORY, STATUS, COMMAND, STARTED = range(8)
_ATTRS = ("name", "cpu_percent", "memory_info", "status", "cmdline")


class ProcessTableSource:
    """Keeps one psutil.Process per pid between readings: cpu_percent() state lives in the object."""

    serves = frozenset({("system", "processtable")})

    def __init__(self, psutil: Any) -> None:
        self._ps = psutil
        self._procs: dict[int, Any] = {}
        self._users: dict[int, str | None] = {}  # per pid, read once: a pid's owner does not change

    def read(self, key: SeriesKey, now: float) -> list[list[Any]]:
        ps = self._ps
        first_table = not self._procs
        rows, alive = [], {}
        for pid in ps.pids():
            proc = self._procs.get(pid)
            fresh = proc is None or not proc.is_running()  # is_running() also catches a reused pid
            try:
                if fresh:
                    proc = ps.Process(pid)
                    self._users.pop(pid, None)
                info = proc.as_dict(_ATTRS, ad_value=None)  # one oneshot(): /proc/<pid>/stat is read once
                if pid not in self._users:
                    self._users[pid] = proc.as_dict(("username",), ad_value=None)["username"]
                started = proc.create_time()
            except ps.NoSuchProcess:  # exited since pids(); a zombie is still listed, as "zombie"
                continue
            except ps.AccessDenied:  # not even its creation time (a protected process on Windows): listed bare
                rows.append([pid, "", None, None, None, None, "", None])
                continue
            alive[pid] = proc
            memory = info["memory_info"]
            rows.append([
                pid,
                info["name"] or "",
                self._users[pid],
                None if fresh or info["cpu_percent"] is None else float(info["cpu_percent"]),
                None if memory is None else int(memory.rss),
                info["status"],
                " ".join(info["cmdline"] or ()),
                started,
            ])
        self._procs = alive
        self._users = {pid: user for pid, user in self._users.items() if pid in alive}
        if first_table:
            raise Priming(key)  # every CPU % is still unknown: the gatherer reads again 0.1 s later
        return rows


class CannotSignal(Exception):
    """Ending a process failed; the message says why, in words for the user."""


def end_process(pid: int, started: float | None = None, force: bool = False, ps: Any = None) -> None:
    """Ask process `pid` to end (SIGTERM), or kill it (SIGKILL) with `force`.

    One kill(2) after a /proc read: it never blocks, so the GUI thread may call it. `started`, the
    row's creation time, keeps a signal from reaching another program that took over the pid.
    """
    if ps is None:
        import psutil as ps
    verb = "kill" if force else "end"
    try:
        proc = ps.Process(pid)
        if started is not None and abs(proc.create_time() - started) > 0.01:
            raise ps.NoSuchProcess(pid)
        if force:
            proc.kill()
        else:
            proc.terminate()
    except ps.NoSuchProcess as exc:
        raise CannotSignal(f"Process {pid} has already ended.") from exc
    except (ps.AccessDenied, PermissionError) as exc:
        raise CannotSignal(f"Permission denied: you may not {verb} process {pid}. It belongs to another "
                           f"user or to the system; only its owner or an administrator can {verb} it.") from exc
