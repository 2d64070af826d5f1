"""Artifact store on any S3-compatible server (MinIO, Ceph, AWS S3, moto in the tests).

    FACTORY_STORE_URL=s3://factory-artifacts/prod
    FACTORY_S3_ENDPOINT_URL=http://minio:9000  FACTORY_S3_ACCESS_KEY=...  FACTORY_S3_SECRET_KEY=...

Objects are ``<prefix>/<first two hex digits>/<artifact id>``; the id is the SHA-256 of the
bytes (see ``factory.artifacts``), so:

* ``put`` is idempotent and cheap for known bytes: a HEAD first, an upload only if missing;
* ``fetch`` can cache forever: a local copy under ``data_dir/s3-cache`` keyed by id never goes
  stale. Downloads land in a temporary file that is renamed into place, so two worker
  processes fetching the same artifact never see half a file.
"""

from __future__ import annotations

from pathlib import Path

from factory.artifacts import artifact_id, atomic_copy, atomic_write
from factory.settings import Settings


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (``bucket``, ``some/prefix``)."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, prefix.strip("/")


class S3ArtifactStore:
    def __init__(self, client, bucket: str, prefix: str, cache_dir: str | Path):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ArtifactStore:
        import boto3
        from botocore.config import Config

        bucket, prefix = parse_s3_url(settings.store_url)
        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            aws_access_key_id=settings.s3_access_key or None,
            aws_secret_access_key=settings.s3_secret_key or None,
            region_name=settings.s3_region or None,
            # Path-style addressing works with every S3-compatible server (MinIO, moto, Ceph).
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"}),
        )
        return cls(client, bucket, prefix, settings.data_dir / "s3-cache")

    def _key(self, artifact: str) -> str:
        if "/" in artifact or artifact.startswith(".") or len(artifact) < 64:
            raise ValueError(f"bad artifact id {artifact!r}")
        return "/".join(p for p in (self.prefix, artifact[:2], artifact) if p)

    def _cache_path(self, artifact: str) -> Path:
        return self.cache_dir / artifact[:2] / artifact

    def put(self, path: str | Path) -> str:
        artifact = artifact_id(path)
        if not self.exists(artifact):
            self.client.upload_file(str(path), self.bucket, self._key(artifact))
        self._remember_locally(Path(path), artifact)
        return artifact

    def fetch(self, artifact: str) -> Path:
        cached = self._cache_path(artifact)
        if cached.exists():
            return cached
        try:
            return atomic_write(cached, lambda tmp: self.client.download_file(self.bucket, self._key(artifact), tmp))
        except Exception as exc:
            if _is_not_found(exc):
                raise FileNotFoundError(f"artifact {artifact} is not in s3://{self.bucket}/{self.prefix}") from None
            raise

    def exists(self, artifact: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(artifact))
            return True
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise

    def url(self, artifact: str) -> str:
        return f"s3://{self.bucket}/{self._key(artifact)}"

    def _remember_locally(self, source: Path, artifact: str) -> None:
        """A file this machine just stored is also its cached copy: the next stage on the same
        worker need not download it again."""
        cached = self._cache_path(artifact)
        if not cached.exists():
            atomic_copy(source, cached)


def _is_not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")
