"""Writes that either complete or leave nothing behind (temp file, then os.replace), with the user's umask."""

import csv
import errno
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from reprolab.core.clock import phase
from reprolab.core.errors import UserError

# errors that mean "this place cannot take the output", reported as one line naming it
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(dest: Path) -> None:
    """Remove the temp files and folders that killed runs left beside dest (their process is gone)."""
    for stale in dest.parent.glob(f".{dest.name}.*.tmp"):
        pid = stale.name[len(dest.name) + 2 :].split(".", 1)[0]
        if not pid.isdigit() or _pid_alive(int(pid)):
            continue
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def cannot_write(dest: Path, err: OSError) -> UserError:
    """The one-line error for an output that could not be written."""
    return UserError(f"{dest}: cannot write ({err.strerror or err}); free space or fix the folder's permissions")


@contextmanager
def atomic_path(dest: str | os.PathLike, directory: bool = False) -> Iterator[Path]:
    """Yield a temp path beside dest; on success move it onto dest, on failure remove it.

    The temp name carries this process's id, so the next run removes what a killed run left. Its time counts
    as writing (clock), less the phases opened inside.
    """
    with phase("write"):
        dest = Path(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(dest)
            prefix = f".{dest.name}.{os.getpid()}."
            if directory:
                tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=dest.parent))
            else:
                fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=dest.parent)
                os.close(fd)
                tmp = Path(name)
        except OSError as err:
            raise cannot_write(dest, err) from None
        try:
            yield tmp
            _apply_umask(tmp)
            if directory and dest.exists():
                _keep_gitignores(dest, tmp)
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        except BaseException as err:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            if isinstance(err, OSError) and err.errno in WRITE_ERRORS:
                raise cannot_write(dest, err) from None
            raise


def _keep_gitignores(old: Path, new: Path) -> None:
    """Carry the replaced folder's .gitignore files over to the folders the new one still has: DVC lists cached
    outputs in them and rewrites them only after a stage it runs, so a stage run directly would hand those
    outputs to git."""
    for kept in old.rglob(".gitignore"):
        moved = new / kept.relative_to(old)
        if moved.parent.is_dir() and not moved.exists():
            shutil.copy2(kept, moved)


Folders = TypeVar("Folders")


@contextmanager
def atomic_folders(final: Folders) -> Iterator[Folders]:
    """atomic_path for each folder of a dataclass of paths: on success each replaces its output, on failure none."""
    with ExitStack() as stack:
        folders = [stack.enter_context(atomic_path(folder, directory=True)) for folder in vars(final).values()]
        yield type(final)(*folders)


def _apply_umask(path: Path) -> None:
    """mkstemp and mkdtemp make private files; give them the modes open() and mkdir() would."""
    mask = _umask()
    path.chmod(0o777 & ~mask if path.is_dir() else 0o666 & ~mask)
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o777 & ~mask)
            for name in files:
                os.chmod(os.path.join(root, name), 0o666 & ~mask)


def json_text(data: Any, dest: str | os.PathLike) -> str:
    """Indented JSON; a NaN or infinity is a UserError naming dest, since JSON has no such numbers."""
    try:
        return json.dumps(data, indent=2, allow_nan=False) + "\n"
    except ValueError:
        raise UserError(f"{dest}: refusing to write a non-finite number (NaN or infinity) into a metrics file") from None


def write_json(dest: str | os.PathLike, data: Any) -> None:
    """Write data as indented JSON, atomically."""
    text = json_text(data, dest)
    with atomic_path(dest) as tmp:
        tmp.write_text(text)


def csv_text(header: list[str], rows: Iterable[Iterable]) -> str:
    """A CSV table through the csv module, so commas and quotes in cells stay inside their field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def save_torch(dest: str | os.PathLike, obj: Any) -> None:
    """torch.save obj to dest atomically, byte-identical for identical contents.

    Saved to a path, torch names the archive's inner folder after the (random) temp file name, so it
    is saved to a buffer instead.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(dest) as tmp:
        tmp.write_bytes(buffer.getvalue())


def ensure_writable(*dests: str | os.PathLike) -> None:
    """Check, before any long work, that each output's folder can take a new file."""
    for dest in map(Path, dests):
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=dest.parent):
                pass
        except OSError as err:
            raise UserError(f"{dest.parent}: cannot write {dest} there ({err.strerror or err}); "
                            "fix the folder's permissions or free space") from None
