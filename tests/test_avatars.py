"""The avatar library (factory/avatars.py): one clear face per photo, stored once, found by id or name."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def library(settings):
    from factory.artifacts import open_store
    from factory.store import JobStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return JobStore(settings.resolved_database_url), open_store(settings)


def test_a_portrait_is_added_found_and_deleted(library, portrait_path):
    from factory.avatars import AvatarError, add_avatar, delete_avatar, get_avatar, list_avatars

    store, artifacts = library
    avatar = add_avatar(store, artifacts, "astro", portrait_path, max_pixels=40_000_000, voice=" ", created_by="token:t")
    assert avatar.voice is None and avatar.created_by == "token:t" and avatar.face["width"] == 512
    assert artifacts.fetch(avatar.image).read_bytes() == portrait_path.read_bytes()
    assert get_avatar(store, "astro") == get_avatar(store, avatar.id) == avatar
    twin = add_avatar(store, artifacts, "astro-2", portrait_path, max_pixels=40_000_000, voice="en_US-joe-medium")
    assert twin.image == avatar.image  # the same photo is stored once
    assert [a.name for a in list_avatars(store)] == ["astro", "astro-2"]
    with pytest.raises(AvatarError, match="already an avatar"):
        add_avatar(store, artifacts, "astro", portrait_path, max_pixels=40_000_000)
    with pytest.raises(AvatarError, match="more than the"):
        add_avatar(store, artifacts, "huge", portrait_path, max_pixels=1000)
    assert delete_avatar(store, avatar.id) and not delete_avatar(store, avatar.id)
    assert get_avatar(store, "astro") is None and artifacts.exists(twin.image)


def test_photos_with_two_faces_or_a_tiny_face_are_refused(tmp_path, portrait_path):
    from factory.avatars import AvatarError, check_portrait
    from factory.media import load_image, save_image

    face = load_image(portrait_path)
    pair = tmp_path / "pair.png"
    save_image(pair, np.concatenate([face, face], axis=1))  # the same person twice, side by side
    with pytest.raises(AvatarError, match="shows 2 faces"):
        check_portrait(pair, 40_000_000)
    small = tmp_path / "far.png"
    canvas = np.full((1024, 1024, 3), 200, np.uint8)
    canvas[:512, :512] = face  # the portrait in one corner of a big empty frame
    save_image(small, canvas)
    with pytest.raises(AvatarError, match="too small"):
        check_portrait(small, 40_000_000)
    wall = tmp_path / "wall.png"
    save_image(wall, np.full((256, 256, 3), 200, np.uint8))
    with pytest.raises(AvatarError, match="No face") as refused:
        check_portrait(wall, 40_000_000)
    # a Chinese editor reads why in Chinese (the console shows in_language(their language))
    assert refused.value.in_language("zh") == "这张照片里没有找到人脸。请使用清晰的正面肖像。"
    assert refused.value.in_language("en") == str(refused.value)
