"""``/voices`` and ``/avatars``: what a job can be spoken with and who can say it.

Avatars are kept by ``factory.avatars`` (photo in the artifact store, one face checked at
upload). Anyone with a token may list them and add one; deleting is for admins.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Path as PathParam, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from factory.api_common import AUTH_ERRORS, NOT_FOUND, TOO_LARGE, ApiError, ErrorBody, requires
from factory.api_jobs import SUFFIX_TYPES, limits_of, read_form, service_of
from factory.api_models import AvatarOut, VoiceOut
from factory.identity import ApiToken

router = APIRouter(responses=AUTH_ERRORS)
AvatarId = PathParam(..., min_length=1, max_length=64, description="The avatar's id or name.")


# --- voices ---------------------------------------------------------------------------------------

def voice_catalog(settings) -> list[dict[str, Any]]:
    """The voices a job may name (``tts.voices``), plus the deployment's configured voice when
    it is a file of its own."""
    from tts.engine import TTSError
    from tts.voices import find_voice, is_installed, list_voices

    voices = list(list_voices())
    if settings.voice and all(settings.voice not in (v.name, *v.aliases) for v in voices):
        try:
            voices.append(find_voice(settings.voice))
        except TTSError:  # a broken configured voice is for `factory doctor` to report; the list still answers
            pass
    return [{"id": v.name, "name": v.name, "language": v.language, "engine": v.engine,
             "details": {"licence": v.licence, "commercial_use": v.commercial_use, "sample_rate": v.sample_rate,
                         "bundled": v.bundled, "installed": is_installed(v), "aliases": list(v.aliases)}}
            for v in voices]


@router.get("/voices", response_model=list[VoiceOut], tags=["library"], summary="List voices")
def list_voices(request: Request, caller: ApiToken = Depends(requires("editor"))) -> list[dict[str, Any]]:
    """Voices a job's ``voice`` may name, with the language each speaks."""
    return voice_catalog(service_of(request).settings)


# --- avatars ----------------------------------------------------------------------------------------

def check_voice_name(voice: str) -> None:
    """422 unless ``voice`` is a voice this install knows (see /voices)."""
    from tts.engine import TTSError
    from tts.voices import find_voice

    if len(voice) > 200:
        raise ApiError(422, "voice: at most 200 characters.")
    try:
        find_voice(voice)
    except TTSError as exc:
        raise ApiError(422, f"voice: {exc}") from None


def avatar_out(avatar) -> dict[str, Any]:
    return {"id": avatar.id, "name": avatar.name, "voice": avatar.voice, "face": avatar.face,
            "created_by": avatar.created_by, "created_at": avatar.created_at,
            "image_url": f"/avatars/{avatar.id}/image"}


@router.get("/avatars", response_model=list[AvatarOut], tags=["library"], summary="List avatars")
def list_avatars(request: Request, caller: ApiToken = Depends(requires("editor"))) -> list[dict[str, Any]]:
    from factory.avatars import list_avatars as all_avatars

    return [avatar_out(a) for a in all_avatars(service_of(request).jobs)]


AVATAR_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"$ref": "#/components/schemas/AvatarUpload"}}}}}


@router.post("/avatars", status_code=201, response_model=AvatarOut, tags=["library"], openapi_extra=AVATAR_BODY,
             responses={**TOO_LARGE, 409: {"model": ErrorBody, "description": "The name is taken."},
                        415: {"model": ErrorBody, "description": "Not multipart/form-data."}},
             summary="Add an avatar")
async def create_avatar(request: Request, caller: ApiToken = Depends(requires("editor"))) -> dict[str, Any]:
    """Add a portrait to the library (multipart: ``name``, ``image``, optional ``voice``). The
    photo must show exactly one clear face; it is checked before anything is stored."""
    from factory.avatars import AvatarError, add_avatar, get_avatar

    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise ApiError(415, "Send the avatar as multipart/form-data (name, image, voice).")
    limits = limits_of(request)
    service = service_of(request)
    with tempfile.TemporaryDirectory(prefix="factory-api-") as tmp:
        values, files = await read_form(request, Path(tmp), limits, {"name", "voice"}, {"image"})
        name = values.get("name", "").strip()
        if not name or len(name) > 64:
            raise ApiError(422, "name: an avatar needs a name of 1 to 64 characters.")
        if "image" not in files:
            raise ApiError(422, "image: upload the portrait photo as the form's image field.")
        voice = values.get("voice", "").strip() or None
        if voice:
            check_voice_name(voice)
        if get_avatar(service.jobs, name) is not None:
            raise ApiError(409, f"There is already an avatar named {name!r}.")
        try:
            avatar = await run_in_threadpool(add_avatar, service.jobs, service.artifacts, name, files["image"],
                                             max_pixels=limits.max_image_pixels, voice=voice, created_by=caller.actor)
        except AvatarError as exc:
            raise ApiError(422, str(exc)) from None
    return avatar_out(avatar)


@router.get("/avatars/{avatar_id}/image", response_class=FileResponse, tags=["library"], summary="An avatar's photo",
            responses={**NOT_FOUND, 200: {"description": "The photo.", "content": {
                media: {"schema": {"type": "string", "format": "binary"}} for media in ("image/jpeg", "image/png", "image/webp")}}})
def avatar_image_file(request: Request, avatar_id: str = AvatarId, caller: ApiToken = Depends(requires("editor"))):
    from factory.avatars import get_avatar

    service = service_of(request)
    avatar = get_avatar(service.jobs, avatar_id)
    if avatar is None:
        raise ApiError(404, f"There is no avatar {avatar_id}.")
    suffix = Path(avatar.image).suffix.lower()
    return FileResponse(service.artifacts.fetch(avatar.image), media_type=SUFFIX_TYPES.get(suffix, "image/png"),
                        filename=f"{avatar.name}{suffix}")


@router.delete("/avatars/{avatar_id}", status_code=204, response_class=Response, tags=["library"],
               responses=NOT_FOUND, summary="Delete an avatar")
def delete_avatar(request: Request, avatar_id: str = AvatarId, caller: ApiToken = Depends(requires("admin"))) -> Response:
    """Remove an avatar from the library (admin role). Jobs made with it are not touched."""
    from factory.avatars import delete_avatar as remove, get_avatar

    service = service_of(request)
    avatar = get_avatar(service.jobs, avatar_id)
    if avatar is None or not remove(service.jobs, avatar.id):
        raise ApiError(404, f"There is no avatar {avatar_id}.")
    return Response(status_code=204)
