import hashlib
import re
import http.server
import threading
from functools import partial

import pytest

from reprolab.core.errors import UserError
from reprolab.core.fetch import fetch, fetch_first
from reprolab.core.params import ArchiveSource

HINT = "put a local copy first in data.imdb.sources"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_local_path_and_file_url(tmp_path, imdb_archive):
    digest = sha256(imdb_archive)
    fetch(str(imdb_archive), digest, tmp_path / "out/a.tar.gz", "data.imdb.url", HINT, "param data.imdb.sha256")
    fetch(imdb_archive.as_uri(), digest, tmp_path / "out/b.tar.gz", "data.imdb.url", HINT, "param data.imdb.sha256")
    assert (tmp_path / "out/a.tar.gz").read_bytes() == imdb_archive.read_bytes()
    assert (tmp_path / "out/b.tar.gz").read_bytes() == imdb_archive.read_bytes()


def test_checksum_mismatch_leaves_nothing(tmp_path, imdb_archive):
    dest = tmp_path / "out/a.tar.gz"
    with pytest.raises(UserError, match="sha256 is .*, expected 0{64} \\(param data.imdb.sha256\\)"):
        fetch(str(imdb_archive), "0" * 64, dest, "data.imdb.url", HINT, "param data.imdb.sha256")
    assert list((tmp_path / "out").iterdir()) == []


def test_missing_local_file(tmp_path):
    with pytest.raises(UserError, match="no such file \\(param data.imdb.url\\)"):
        fetch(str(tmp_path / "absent.tar.gz"), "0" * 64, tmp_path / "a.tar.gz", "data.imdb.url", HINT, "param data.imdb.sha256")


@pytest.fixture
def http_root(tmp_path):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_download(tmp_path, imdb_archive, http_root):
    dest = tmp_path / "out/a.tar.gz"
    fetch(f"{http_root}/{imdb_archive.name}", sha256(imdb_archive), dest, "data.imdb.url", HINT, "param data.imdb.sha256")
    assert dest.read_bytes() == imdb_archive.read_bytes()


def test_http_truncated_download_is_rejected(tmp_path, imdb_archive, http_root):
    full = imdb_archive.read_bytes()
    (tmp_path / "short.tar.gz").write_bytes(full[: len(full) // 2])
    dest = tmp_path / "out/a.tar.gz"
    with pytest.raises(UserError, match="corrupt or truncated"):
        fetch(f"{http_root}/short.tar.gz", sha256(imdb_archive), dest, "data.imdb.url", HINT, "param data.imdb.sha256")
    assert not dest.exists()


def test_unreachable_host_says_how_to_work_offline(tmp_path, http_root):
    with pytest.raises(UserError, match=f"cannot download .*404.*; {HINT}"):
        fetch(f"{http_root}/missing.tar.gz", "0" * 64, tmp_path / "a.tar.gz", "data.imdb.url", HINT, "param data.imdb.sha256")
    closed_port_url = "http://127.0.0.1:9/aclImdb_v1.tar.gz"
    with pytest.raises(UserError, match=f"cannot download {closed_port_url} \\(param data.imdb.url\\): .*; {HINT}"):
        fetch(closed_port_url, "0" * 64, tmp_path / "a.tar.gz", "data.imdb.url", HINT, "param data.imdb.sha256")
    assert not (tmp_path / "a.tar.gz").exists()


def archives(*sources: tuple[str, str]) -> list[ArchiveSource]:
    return [ArchiveSource(at=at, sha256=sha256) for at, sha256 in sources]


def test_first_source_that_can_be_had_is_fetched(tmp_path, imdb_archive, http_root):
    dest, digest = tmp_path / "out/a.tar.gz", sha256(imdb_archive)
    sources = archives((str(tmp_path / "absent.tar.gz"), "0" * 64), (f"{http_root}/missing.tar.gz", "0" * 64),
                       (f"{http_root}/{imdb_archive.name}", digest), (str(imdb_archive), digest))
    assert fetch_first(sources, dest, "data.imdb.sources", HINT) == sources[2].at
    assert dest.read_bytes() == imdb_archive.read_bytes()


def test_a_source_that_fails_its_checksum_stops_the_fetch(tmp_path, imdb_archive):
    dest = tmp_path / "out/a.tar.gz"
    with pytest.raises(UserError, match="corrupt or truncated"):
        fetch_first(archives((str(imdb_archive), "0" * 64), (str(imdb_archive), sha256(imdb_archive))), dest, "data.imdb.sources", HINT)
    assert not dest.exists()


def test_no_source_says_each_and_how_to_work_offline(tmp_path, http_root):
    message = (f"no source in data.imdb.sources could be had ({tmp_path / 'absent.tar.gz'}: no such file; "
               f"cannot download {http_root}/missing.tar.gz (param data.imdb.sources): HTTP 404 File not found); {HINT}")
    with pytest.raises(UserError, match=re.escape(message)):
        fetch_first(archives((str(tmp_path / "absent.tar.gz"), "0" * 64), (f"{http_root}/missing.tar.gz", "0" * 64)),
                    tmp_path / "a.tar.gz", "data.imdb.sources", HINT)
