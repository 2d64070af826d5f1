"""The S3 artifact store against a real S3-compatible server (moto's server mode on loopback)."""

from __future__ import annotations

import uuid

import pytest

from conftest_services import s3_endpoint  # noqa: F401  (fixture)


@pytest.fixture
def s3_settings(tmp_path, s3_endpoint):
    import boto3

    from factory.settings import Settings

    bucket = f"art-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1").create_bucket(Bucket=bucket)
    return Settings.load(
        data_dir=tmp_path / "a",
        store_url=f"s3://{bucket}/team/videos",
        s3_endpoint_url=s3_endpoint,
        s3_access_key="k",
        s3_secret_key="s",
    )


def test_put_then_fetch_on_another_machine_gives_the_same_bytes(s3_settings, tmp_path):
    import dataclasses

    from factory.artifacts import file_sha256, open_store
    from factory.s3_store import S3ArtifactStore

    source = tmp_path / "clip.MP4"
    source.write_bytes(b"\x00video bytes\xff" * 5000)
    store = open_store(s3_settings)
    assert isinstance(store, S3ArtifactStore)
    artifact = store.put(source)
    assert artifact == file_sha256(source) + ".mp4"
    assert store.exists(artifact)
    assert store.url(artifact) == f"s3://{store.bucket}/team/videos/{artifact[:2]}/{artifact}"

    # A second machine: its own empty cache, same bucket.
    other = open_store(dataclasses.replace(s3_settings, data_dir=tmp_path / "b"))
    fetched = other.fetch(artifact)
    assert fetched.read_bytes() == source.read_bytes()
    assert fetched.is_relative_to(tmp_path / "b" / "s3-cache")


def test_put_is_idempotent_and_fetch_uses_the_local_cache(s3_settings, tmp_path):
    import dataclasses

    from factory.artifacts import open_store

    source = tmp_path / "a.wav"
    source.write_bytes(b"RIFF" + bytes(range(256)) * 10)
    store = open_store(s3_settings)
    first = store.put(source)
    key = store._key(first)
    stamp = store.client.head_object(Bucket=store.bucket, Key=key)["LastModified"]
    assert store.put(source) == first  # HEAD says it is there: no second upload
    assert store.client.head_object(Bucket=store.bucket, Key=key)["LastModified"] == stamp
    listed = store.client.list_objects_v2(Bucket=store.bucket)["KeyCount"]
    assert listed == 1

    reader = open_store(dataclasses.replace(s3_settings, data_dir=tmp_path / "c"))
    reader.fetch(first)
    store.client.delete_object(Bucket=store.bucket, Key=key)
    # Content-addressed: the cached copy can never be stale, so no second download is needed.
    assert reader.fetch(first).read_bytes() == source.read_bytes()
    assert not reader.exists(first)


def test_missing_artifact_is_a_clear_error(s3_settings):
    from factory.artifacts import open_store

    store = open_store(s3_settings)
    missing = "ab" + "0" * 62 + ".png"
    assert not store.exists(missing)
    with pytest.raises(FileNotFoundError, match="is not in s3://"):
        store.fetch(missing)
    with pytest.raises(ValueError):
        store.fetch("../etc/passwd")
    assert not list((s3_settings.data_dir / "s3-cache").rglob(".incoming-*"))  # no half files left
