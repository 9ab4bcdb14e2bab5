"""Get a file from a URL or a local path, verify its sha256, and write it atomically."""

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from tqdm import tqdm

from reprolab.core.atomic import atomic_path
from reprolab.core.clock import phase
from reprolab.core.errors import UserError

CHUNK = 1 << 20


class Unreachable(UserError):
    """A download that got no file (network, HTTP status): the next source may still serve it."""


def local_source(url: str) -> Path | None:
    """The local file a url names (file:// or a plain path), or None for http(s)."""
    if url.startswith(("http://", "https://")):
        return None
    if url.startswith("file://"):
        return Path(unquote(urlparse(url).path))
    return Path(url).expanduser()


def _copy_hashing(src: BinaryIO, dst: BinaryIO, total: int | None, label: str, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=None) as bar:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _open_url(url: str, param: str, hint: str):
    hint = f"; {hint}" if hint else ""
    try:
        return urllib.request.urlopen(url, timeout=60)
    except urllib.error.HTTPError as err:
        raise Unreachable(f"cannot download {url} (param {param}): HTTP {err.code} {err.reason}{hint}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise Unreachable(f"cannot download {url} (param {param}): {reason}{hint}") from None


def fetch(url: str, expected: str, dest: str | os.PathLike, param: str, hint: str, checksum_from: str,
          algorithm: str = "sha256") -> None:
    """Copy or download url to dest; dest appears only if the content's digest matches `expected`.

    param is the params.yaml key that named url; checksum_from says where `expected` came from.
    """
    dest = Path(dest)
    source = local_source(url)
    if source is not None and not source.is_file():
        raise UserError(f"{source}: no such file (param {param})")
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        if source is not None:
            with open(source, "rb") as src:
                actual = _copy_hashing(src, out, source.stat().st_size, dest.name, algorithm)
        else:
            with _open_url(url, param, hint) as response:
                length = response.headers.get("Content-Length")
                actual = _copy_hashing(response, out, int(length) if length else None, dest.name, algorithm)
        out.flush()
        if actual != expected:
            raise UserError(
                f"{url}: {algorithm} is {actual}, expected {expected} ({checksum_from}); "
                "the file is corrupt or truncated, or the checksum is wrong"
            )


@phase("load")
def fetch_first(sources: Sequence, dest: str | os.PathLike, param: str, hint: str) -> str:
    """Fetch the first of sources (each `at` a location, with its `sha256`) that can be had: a path that exists,
    else a URL that answers.

    A local path that is absent is skipped, as is a URL that cannot be reached; a file that is had
    but fails its checksum stops the fetch. Returns the location used.
    """
    missing = []
    for source in sources:
        location, sha256 = source.at, source.sha256
        local = local_source(location)
        if local is not None and not local.exists():
            missing.append(f"{local}: no such file")
            continue
        try:
            fetch(location, sha256, dest, param, "", f"param {param}")
            return location
        except Unreachable as err:
            missing.append(str(err))
    raise UserError(f"no source in {param} could be had ({'; '.join(missing)}); {hint}")
