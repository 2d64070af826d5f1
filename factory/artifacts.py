"""Content-addressed artifact store: files are named by the SHA-256 of their bytes.

An artifact id is ``<sha256><suffix>`` (e.g. ``3fa9…c2.mp4``): the same bytes always get the
same id, so storing twice costs nothing and cache keys can be built from ids alone. The suffix
rides along because ffmpeg and image tools like to see one.

Two implementations behind one small interface:
* ``LocalArtifactStore`` — a folder (the embedded default, ``data_dir/artifacts``);
* ``S3ArtifactStore`` (``factory/s3_store.py``) — any S3-compatible server, with a local
  read cache so a worker downloads each input once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Protocol

from factory.settings import Settings

CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(target: str | Path, write: Callable[[str], None]) -> Path:
    """``write(tmp)`` fills a unique temporary file beside ``target``, which is then renamed into
    place: readers never see a half-written file, and a failed write leaves nothing behind."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_copy(source: str | Path, target: str | Path) -> Path:
    """Copy ``source`` to ``target`` through `atomic_write`."""
    return atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def artifact_id(path: str | Path) -> str:
    path = Path(path)
    return file_sha256(path) + path.suffix.lower()


class ArtifactStore(Protocol):
    def put(self, path: str | Path) -> str:
        """Store a file; return its artifact id."""

    def fetch(self, artifact: str) -> Path:
        """A local, read-only path to the artifact's bytes (downloaded first if remote)."""

    def exists(self, artifact: str) -> bool: ...

    def url(self, artifact: str) -> str:
        """Where the artifact lives, for people and for other machines."""


class LocalArtifactStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, artifact: str) -> Path:
        if "/" in artifact or artifact.startswith("."):
            raise ValueError(f"bad artifact id {artifact!r}")
        return self.root / artifact[:2] / artifact

    def put(self, path: str | Path) -> str:
        artifact = artifact_id(path)
        target = self._path(artifact)
        if not target.exists():
            atomic_copy(path, target)
        return artifact

    def fetch(self, artifact: str) -> Path:
        path = self._path(artifact)
        if not path.exists():
            raise FileNotFoundError(f"artifact {artifact} is not in {self.root}")
        return path

    def exists(self, artifact: str) -> bool:
        return self._path(artifact).exists()

    def url(self, artifact: str) -> str:
        return self._path(artifact).resolve().as_uri()


def open_store(settings: Settings) -> ArtifactStore:
    """The artifact store the settings name: a folder (file://...) or S3 (s3://bucket/prefix)."""
    url = settings.resolved_store_url
    if url.startswith("file://"):
        return LocalArtifactStore(url[len("file://") :])
    if url.startswith("s3://"):
        from factory.s3_store import S3ArtifactStore

        return S3ArtifactStore.from_settings(settings)
    raise ValueError(f"store_url must start with file:// or s3://, got {url!r}")
