"""The avatar library: portraits an editor or an integration picks by name instead of uploading
a photo for every job (the API's ``/avatars``, the console, batches).

An avatar is a photo stored in the artifact store (content-addressed, so a photo shared by two
avatars is stored once) plus a row in ``avatars``: its name, an optional default voice for the
jobs that use it, who added it, and the face found in it. A photo is accepted only when it
decodes, is within the pixel limit and shows exactly one clear face: the renderer animates one
face, and finding out at render time costs an editor a wasted job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel, select

from factory.store import JobStore, utcnow

MIN_FACE_FRACTION = 0.02
"""Smallest face, as a fraction of the photo's area, that the renderer can animate well."""


class AvatarError(ValueError):
    """A photo or name that cannot become an avatar; the message is for the person who sent it,
    in English (``str``) and in Chinese (``in_language("zh")``)."""

    def __init__(self, english: str, chinese: str):
        super().__init__(english)
        self.chinese = chinese

    def in_language(self, language: str | None) -> str:
        return self.chinese if (language or "").lower().startswith("zh") else str(self)


class AvatarRow(SQLModel, table=True):
    __tablename__ = "avatars"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(index=True, unique=True, max_length=64)
    image: str = Field(max_length=80)
    """Artifact id of the photo."""
    voice: str | None = Field(default=None, max_length=200)
    """Default voice of jobs made with this avatar (None: the deployment's default)."""
    face: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """The face found at upload: box in pixels, score, photo size."""
    created_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class Avatar:
    id: str
    name: str
    image: str
    voice: str | None
    face: dict[str, Any]
    created_by: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: AvatarRow) -> Avatar:
        return cls(id=row.id, name=row.name, image=row.image, voice=row.voice, face=dict(row.face),
                   created_by=row.created_by, created_at=row.created_at)


def check_portrait(path: str | Path, max_pixels: int) -> dict[str, Any]:
    """The one face in the photo (box, score, photo size); AvatarError when the file is not a
    usable photo or shows no face, a tiny face, or several faces."""
    from factory.faces import detect_faces
    from factory.media import MediaError, load_image

    try:
        rgb = load_image(path, max_pixels)
    except MediaError as exc:
        raise AvatarError(str(exc), "无法读取这张照片：请上传 JPG、PNG 或 WEBP 格式、未损坏且不过大的图片。") from None
    height, width = rgb.shape[:2]
    faces = detect_faces(rgb)
    if not faces:
        raise AvatarError("No face was found in this photo. Please use a clear, front-facing portrait.",
                          "这张照片里没有找到人脸。请使用清晰的正面肖像。")
    if len(faces) > 1 and faces[1].area > 0.25 * faces[0].area:
        raise AvatarError(f"This photo shows {len(faces)} faces; an avatar needs exactly one person.",
                          f"这张照片里有 {len(faces)} 张脸；一个形象只能有一个人。")
    face = faces[0]
    if face.area < MIN_FACE_FRACTION * width * height:
        raise AvatarError("The face in this photo is too small; crop closer to the person's head and shoulders.",
                          "这张照片里的人脸太小；请裁剪到人物的头部和肩膀。")
    return {"box": [round(face.x0), round(face.y0), round(face.x1), round(face.y1)],
            "score": round(face.score, 3), "width": width, "height": height}


def add_avatar(store: JobStore, artifacts: Any, name: str, image: str | Path, *, max_pixels: int,
               voice: str | None = None, created_by: str | None = None) -> Avatar:
    """Check the photo, store it, and add the avatar. Raises AvatarError."""
    name = name.strip()
    if not name or len(name) > 64:
        raise AvatarError("An avatar name needs 1 to 64 characters.", "形象名称需要 1 到 64 个字符。")
    if get_avatar(store, name) is not None:
        raise AvatarError(f"There is already an avatar named {name!r}.", f"已经有名为“{name}”的形象。")
    face = check_portrait(image, max_pixels)
    row = AvatarRow(id=uuid.uuid4().hex[:16], name=name, image=artifacts.put(image),
                    voice=(voice or "").strip() or None, face=face, created_by=created_by)
    with store.session() as s:
        s.add(row)
        s.commit()
    return Avatar.from_row(row)


def list_avatars(store: JobStore) -> list[Avatar]:
    with store.session() as s:
        return [Avatar.from_row(row) for row in s.exec(select(AvatarRow).order_by(AvatarRow.name))]


def get_avatar(store: JobStore, id_or_name: str) -> Avatar | None:
    """An avatar by id or by name."""
    with store.session() as s:
        row = s.get(AvatarRow, id_or_name) or s.exec(select(AvatarRow).where(AvatarRow.name == id_or_name)).first()
        return Avatar.from_row(row) if row else None


def delete_avatar(store: JobStore, avatar_id: str) -> bool:
    """Remove the avatar from the library (jobs made with it keep their own copy of the photo).
    False when there was none."""
    with store.session() as s:
        row = s.get(AvatarRow, avatar_id)
        if row is None:
            return False
        s.delete(row)
        s.commit()
        return True
