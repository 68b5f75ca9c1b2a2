"""Writing files so that a crash, a kill or Ctrl-C never leaves a broken one: a file alone
(:func:`atomic_write`), and several files as one unit (:func:`commit`, :func:`recover`).

A file is written to a temporary file beside it (``.tmp-`` first in its name), flushed to disk and
renamed over the target: a reader sees the old file or the new one. Several files are committed
in three steps: each is written to a staged file, then a journal naming them is written
atomically (the commit point), then each staged file is renamed over its target and the journal
removed. After a kill before the journal, the old files stand and the staged ones are debris;
after it, :func:`recover` finishes the renames. Errors name the file they concern.
:class:`FolderLock` keeps a folder to one writer, and :func:`check_folder` a folder of other files
from being written into; :func:`write_output` writes a file the user named, whatever it is.
"""
import glob
import json
import os
import stat
import sys
import tempfile
import time

import filelock

TMP_PREFIX = ".tmp-"
JOURNAL = ".commit.json"


def _named(error, path):
    """``error``, where it is an OSError, naming ``path`` (not a temporary file of it)."""
    if isinstance(error, OSError) and not isinstance(error, FolderBusy):
        return OSError(error.errno, error.strerror or str(error), os.fspath(path))
    return error


def _sync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_file(path, write):
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _umask():
    """The process's file mode creation mask (read without changing it where the system says)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode(path):
    """The permissions a file written at ``path`` gets, as ``open()`` would give them: those of
    the file it replaces, or what the umask leaves of read and write for all."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def atomic_write(path, write, prefix=TMP_PREFIX):
    """Call ``write(file)`` on a temporary file beside ``path`` (its name starting ``prefix``),
    then rename it to ``path``; the file gets the permissions ``open()`` would give it. OSError
    names ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    mode = _mode(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=os.path.basename(path), dir=folder)
    except OSError as e:
        raise _named(e, path) from None
    try:
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise _named(e, path) from None


def write_output(path, write):
    """Write a file the user named, ``path``, by ``write(file)``: a new path or a regular file
    (a link to one: the file it names) atomically, as :func:`atomic_write` does; a device, a
    pipe or a descriptor (/dev/null, /dev/stdout, /proc/self/fd/N, whatever they lead to)
    straight through, appended to what the descriptor has written, since a rename would replace
    it. The temporary files of an earlier write to ``path`` whose process has died are
    removed first."""
    path = os.fspath(path)
    through = _written_through(path)
    if through:
        try:
            # one of this process's descriptors: written at its own place, as print() would
            with (os.fdopen(os.dup(through), "wb") if through is not True else
                  open(path, "ab")) as f:
                write(f)
        except OSError as e:
            raise _named(e, path) from None
        return
    path = os.path.realpath(path)
    _remove_orphans(path)
    atomic_write(path, write, prefix=f"{TMP_PREFIX}{os.getpid()}-")


def _written_through(path):
    """Whether ``path`` is written straight through rather than replaced: it is, or links to, a
    descriptor of this process (/dev/stdout, /proc/self/fd/1: the descriptor's number is
    returned) or a device (whatever they lead to, a file another process holds open too), or it
    is no regular file (a pipe, a device)."""
    hop = os.path.abspath(path)
    ours = ("/proc/self/fd/", f"/proc/{os.getpid()}/fd/", "/dev/fd/")
    for _ in range(40):                                  # the links it goes through, in turn
        for prefix in ours:
            if hop.startswith(prefix) and hop[len(prefix):].isdigit():
                return int(hop[len(prefix):])
        if hop.startswith(("/dev/", "/proc/")):
            return True
        if not os.path.islink(hop):
            break
        hop = os.path.abspath(os.path.join(os.path.dirname(hop), os.readlink(hop)))
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise _named(e, path) from None


def _remove_orphans(path):
    """Remove the temporary files :func:`write_output` left beside ``path`` in processes that
    no longer run (killed while writing)."""
    folder, name = os.path.split(path)
    for tmp in glob.glob(os.path.join(glob.escape(folder), f"{TMP_PREFIX}*-*")):
        pid, _, rest = os.path.basename(tmp)[len(TMP_PREFIX):].partition("-")
        if not (pid.isdigit() and rest.endswith(name)) or _alive(int(pid)):
            continue
        try:
            os.remove(tmp)
        except OSError:
            pass


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def commit(folder, writes):
    """Write the files ``writes`` names ({file name in ``folder``: write(file)}) as one unit:
    after a kill at any moment the folder holds all the old files or, once :func:`recover` has
    run, all the new ones."""
    folder = os.fspath(folder)
    staged = []
    for name, write in writes.items():
        tmp = os.path.join(folder, f"{TMP_PREFIX}{name}")
        try:
            _write_file(tmp, write)
        except BaseException as e:
            for path in staged + [tmp]:
                if os.path.exists(path):
                    os.unlink(path)
            raise _named(e, os.path.join(folder, name)) from None
        staged.append(tmp)
    journal = os.path.join(folder, JOURNAL)
    atomic_write(journal, lambda f: f.write(json.dumps(list(writes)).encode()))
    _finish(folder, list(writes))


def _finish(folder, names):
    for name in names:
        tmp = os.path.join(folder, f"{TMP_PREFIX}{name}")
        if os.path.exists(tmp):
            os.replace(tmp, os.path.join(folder, name))
    _sync_folder(folder)
    os.remove(os.path.join(folder, JOURNAL))
    _sync_folder(folder)


def recover(folder, names=None):
    """Finish the commit a killed process left in ``folder`` (its journal written), and remove
    the temporary files of writes that never reached their commit: those of the files ``names``
    (None: of any file). Returns the names of the files a commit was finished for (empty if
    none)."""
    folder = os.fspath(folder)
    journal = os.path.join(folder, JOURNAL)
    finished = []
    if os.path.exists(journal):
        try:
            with open(journal, encoding="utf-8") as f:
                names = json.load(f)
            if not (isinstance(names, list) and all(isinstance(n, str) and os.sep not in n
                                                    for n in names)):
                raise ValueError("not a list of file names")
        except (OSError, ValueError):                 # the journal itself never completed
            os.remove(journal)
        else:
            _finish(folder, names)
            finished = names
    if os.path.isdir(folder):
        ours = None if names is None else tuple(names) + (JOURNAL,)
        for name in os.listdir(folder):
            if name.startswith(TMP_PREFIX) and (ours is None or name.endswith(ours)):
                os.remove(os.path.join(folder, name))
    return finished


class ForeignFolder(ValueError):
    """A folder of files that are not ours, which a run would replace."""


def check_folder(folder, what="a run's"):
    """ForeignFolder where ``folder`` holds files (other than hidden ones), which are not ``what``
    is to be written there (in words): what is written there would replace them."""
    if not os.path.isdir(folder):
        return
    others = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise ForeignFolder(f"{folder} holds files that are not {what} ({shown})")


class FolderBusy(OSError):
    """A folder another process holds (:class:`FolderLock`)."""


class FolderLock:
    """One writer a folder: an exclusive lock (filelock's, on the file ``.lock``), released when
    its process ends however it ends, so that a dead holder never blocks; ``.owner.json`` beside
    it says who holds it. Acquiring it again in the same process nests."""

    def __init__(self, folder):
        self.folder = os.fspath(folder)
        self._lock = filelock.FileLock(os.path.join(self.folder, ".lock"), timeout=0,
                                       is_singleton=True)

    @property
    def owner_path(self):
        return os.path.join(self.folder, ".owner.json")

    def acquire(self):
        """Hold the folder; FolderBusy, naming the holder, where another process does."""
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise FolderBusy(f"{self.folder} is in use by {self._holder()}; wait until it ends, "
                             "or use another folder") from None
        if self._lock.lock_counter == 1:
            owner = {"pid": os.getpid(), "command": " ".join(sys.argv),
                     "since": time.strftime("%Y-%m-%d %H:%M:%S")}
            atomic_write(self.owner_path, lambda f: f.write(json.dumps(owner).encode()))
        return self

    def release(self):
        if self._lock.is_locked:
            if self._lock.lock_counter == 1 and os.path.exists(self.owner_path):
                os.remove(self.owner_path)
            self._lock.release()

    def _holder(self):
        try:
            with open(self.owner_path, encoding="utf-8") as f:
                owner = json.load(f)
            return (f"process {int(owner['pid'])} ({owner.get('command') or '?'}, since "
                    f"{owner.get('since')})")
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
