"""IDX files (MNIST's format): read and validate, gzip or raw."""

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from reprolab.core.errors import UserError

MAGIC = {1: 0x00000801, 3: 0x00000803}  # labels (N,), images (N, rows, cols)


def read_idx_bytes(path: str | Path) -> bytes:
    """The decompressed content of path (.gz or raw); a broken gzip stream is a UserError."""
    path = Path(path)
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"{path}: corrupt or truncated gzip data ({err})") from None


def parse_idx(data: bytes, dims: int, source: str) -> np.ndarray:
    """An unsigned-byte IDX array of `dims` dimensions, checking magic number and exact length."""
    magic = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None
    if magic is not None and magic != MAGIC[dims]:
        kind = "labels" if dims == 1 else "images"
        raise UserError(f"{source}: magic number {magic:#010x}, expected {MAGIC[dims]:#010x} (IDX unsigned-byte {kind})")
    if len(data) < 4 + 4 * dims:
        raise UserError(f"{source}: too short for an IDX header ({len(data)} bytes)")
    shape = struct.unpack(f">{dims}I", data[4 : 4 + 4 * dims])
    expected = 4 + 4 * dims + int(np.prod(shape))
    if len(data) != expected:
        raise UserError(f"{source}: {len(data)} bytes, expected {expected} for shape {shape} (truncated or padded)")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray, compress: bool = True) -> None:
    """Write a uint8 array as an IDX file, gzipped when compress is true (test fixtures, exports)."""
    header = struct.pack(">I", MAGIC[array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    Path(path).write_bytes(gzip.compress(data, mtime=0) if compress else data)
