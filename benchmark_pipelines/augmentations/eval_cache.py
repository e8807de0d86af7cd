"""On-disk cache of the final evaluation views of each sample (after the mandatory chain and the crops).

The evaluation output of a sample depends only on (dataset, split, chain version, seed, crop strategy, input
size) and the sample's ``ID`` (the chain is seeded by ``(4321, ID)``), so it is computed once and read back in
later validation/test passes, skipping decode, JPEG round trips and resizing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import operator
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_KEY_FILE = "key.json"
_RESCAN_EVERY = 1024
# What one process has seen of the folder; a pickled copy (a DataLoader worker) starts from these values.
_FRESH_PROCESS_STATE: dict[str, Any] = {
    "_folder_ready": False,
    "_bytes_used": None,
    "_writes_since_count": 0,
    "_full": False,
}


class EvaluationCache:
    """A folder of ``<ID>.npy`` files, one per sample, under a subfolder named by the hash of the key.

    Layout: ``root/<first 32 hex digits of sha256(canonical JSON of key)>/`` holds ``key.json`` (the key, for
    inspection) and one ``<ID>.npy`` per sample: a uint8 array (n_crops, H, W, 3). Any change of a key field
    (or of :attr:`FORMAT_VERSION`) gives another folder, so stale entries are never read.

    Writes go to a unique temporary name in the same folder and are published with ``os.replace`` (atomic on
    POSIX and Windows): several DataLoader workers or processes can fill the same cache; a reader sees either no
    file or a complete one, and two writers of the same sample write identical bytes. An unreadable entry (e.g.
    a disk error) is deleted, reported and treated as a miss.

    ``max_bytes`` bounds the size of this key's folder. Each process counts the ``.npy`` bytes it finds in the
    folder (re-counted every 1024 writes) plus what it wrote since; once the next entry would exceed the bound it
    stops writing (logged once) and ``get`` keeps serving what is stored. Between re-counts a process does not see
    the other workers' writes, so with concurrent writers the bound can be overshot by what they wrote meanwhile.

    The object is picklable (plain attributes); each worker process re-counts the folder on its first write.

    Args:
        root: the cache root folder (created on the first write).
        key: JSON-serialisable dict identifying the evaluation output, e.g. from :meth:`make_key`.
        enabled: ``False`` makes ``get`` always miss and ``put`` do nothing.
        max_bytes: size bound of this key's folder in bytes, ``None`` for no bound.
    """

    FORMAT_VERSION = 1

    def __init__(
        self, root: str | Path, key: dict[str, Any], *, enabled: bool = True, max_bytes: int | None = None
    ) -> None:
        if not isinstance(key, dict) or not all(isinstance(k, str) for k in key):
            raise ValueError(f"the cache key must be a dict with str keys, got {key!r}")
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0):
            raise ValueError(f"max_bytes must be a non-negative int or None, got {max_bytes!r}")
        try:
            canonical = json.dumps(
                {"cache_format": self.FORMAT_VERSION, "key": key},
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=True,
                allow_nan=False,
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the cache key must be JSON-serialisable (str, int, float, bool, lists): {exc}") from None
        self.root = Path(root)
        self.key = json.loads(canonical)["key"]
        self.enabled = bool(enabled)
        self.max_bytes = max_bytes
        self.digest = hashlib.sha256(canonical.encode("ascii")).hexdigest()
        self.folder = self.root / self.digest[:32]
        self._canonical = canonical
        self._folder_ready: bool = False
        self._bytes_used: int | None = None
        self._writes_since_count: int = 0
        self._full: bool = False

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, **_FRESH_PROCESS_STATE}

    def __repr__(self) -> str:
        return f"EvaluationCache(folder={str(self.folder)!r}, enabled={self.enabled}, max_bytes={self.max_bytes})"

    @staticmethod
    def make_key(
        *,
        dataset: str,
        split: str,
        chain_version: str,
        seed: int,
        crop_strategy: str,
        input_size: int | Sequence[int],
    ) -> dict[str, Any]:
        """The standard key: everything but the sample ``ID`` that the evaluation output depends on.

        ``dataset`` should identify the data itself (e.g. its path or version), ``chain_version`` is
        ``AIGenBenchV1EvalChain.version`` (or ``"none"`` without the mandatory chain).
        """
        size = [int(input_size)] * 2 if isinstance(input_size, int) else [int(s) for s in input_size]
        return {
            "dataset": str(dataset),
            "split": str(split),
            "chain_version": str(chain_version),
            "seed": int(seed),
            "crop_strategy": str(crop_strategy),
            "input_size": size,
        }

    def _path(self, sample_id: int) -> Path:
        try:
            return self.folder / f"{operator.index(sample_id)}.npy"
        except TypeError:
            raise ValueError(f"sample_id must be an int, got {sample_id!r}") from None

    def get(self, sample_id: int) -> np.ndarray | None:
        """The stored array of ``sample_id``, or ``None`` if absent (or the cache is disabled)."""
        path = self._path(sample_id)
        if not self.enabled:
            return None
        try:
            with open(path, "rb") as f:
                return np.load(f, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as exc:
            log.warning("evaluation cache entry %s is unreadable (%s); deleting it and recomputing", path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def _prepare_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        key_file = self.folder / _KEY_FILE
        if not key_file.exists():
            self._atomic_write(key_file, lambda f: f.write(json.dumps(json.loads(self._canonical), indent=2).encode()))
        self._folder_ready = True

    def _atomic_write(self, path: Path, write: Any) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as f:
                write(f)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def _count_bytes(self) -> int:
        with os.scandir(self.folder) as entries:
            return sum(e.stat().st_size for e in entries if e.name.endswith(".npy") and e.is_file())

    def put(self, sample_id: int, array: np.ndarray) -> bool:
        """Stores the evaluation views of ``sample_id``.

        Args:
            sample_id: the sample's ``ID``.
            array: uint8 array (n_crops, H, W, 3).

        Returns:
            ``True`` if written; ``False`` if disabled, already stored, or the size bound is reached.

        Raises:
            ValueError: ``array`` is not a uint8 (n_crops, H, W, 3) array.
        """
        path = self._path(sample_id)
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3:
            got = f"dtype {array.dtype}, shape {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
            raise ValueError(f"the cache stores uint8 arrays of shape (n_crops, H, W, 3), got {got}")
        if not self.enabled or self._full:
            return False
        if not self._folder_ready:
            self._prepare_folder()
        if path.exists():
            return False
        if self.max_bytes is not None:
            if self._bytes_used is None or self._writes_since_count >= _RESCAN_EVERY:
                self._bytes_used = self._count_bytes()
                self._writes_since_count = 0
            # 128 bytes: the .npy header of a small array.
            size = array.nbytes + 128
            if self._bytes_used + size > self.max_bytes:
                self._full = True
                log.warning(
                    "evaluation cache %s reached max_bytes=%d (%d bytes stored); no further entries are written",
                    self.folder,
                    self.max_bytes,
                    self._bytes_used,
                )
                return False
            self._bytes_used += size
            self._writes_since_count += 1
        self._atomic_write(path, lambda f: np.save(f, np.ascontiguousarray(array), allow_pickle=False))
        return True


__all__ = ["EvaluationCache"]
