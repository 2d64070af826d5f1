"""The "New video" page: a portrait + what to say + voice + render parameters → a job, then its
live progress and the finished video. Topics, policy documents and product rows are drafted
by the writer first; the editor reads and edits the draft before anything is rendered."""

from __future__ import annotations

import io
from typing import Any

import streamlit as st

from factory.stages import ParamSpec, StageError
from ui.job_widgets import show_job
from ui.render_params import render_param_specs, slider_step
from ui.submission import (
    AUDIO_TYPES,
    IMAGE_TYPES,
    LANGUAGES,
    SOURCES,
    WRITER_SOURCES,
    Draft,
    FormError,
    NewVideoForm,
    Upload,
    check_draft,
    default_target_seconds,
    language_index,
    document_types,
    read_document,
    stage_installed,
    submit_form,
    write_draft,
    writer_status,
)
from ui.visit import Visit

CURRENT_JOB = "current_job"  # session-state keys: the job this tab submitted last,
DRAFT = "draft"  # the writer's draft being reviewed (ui.submission.Draft)


@st.cache_data(ttl=60, show_spinner=False)
def _writer_status(_settings, key: str):
    return writer_status(_settings)


def new_video_page(visit: Visit) -> None:
    tr = visit.tr
    settings = visit.console.settings
    st.header(tr("new.header"))
    missing = [s for s in ("speak", "render", "check") if not stage_installed(s)]
    if missing:
        st.warning(tr("new.missing_stages", stages=", ".join(tr.stage(s) for s in missing)))

    image, avatar_voice = _portrait(visit)

    writer = _writer_status(settings, repr(settings))
    offered = [s for s in SOURCES if writer.ok or s not in WRITER_SOURCES]
    source = st.radio(tr("new.source"), offered, format_func=lambda s: tr(f"source.{s}"), horizontal=True, key="source")
    if not writer.ok:
        st.caption(tr("new.writer_missing", detail=writer.detail, fix=writer.fix))
    form = NewVideoForm(image=image, source=source, check=settings.qa_enabled)

    left, right = st.columns(2)
    form.language = right.selectbox(tr("new.language"), list(LANGUAGES), format_func=lambda c: tr(f"lang.{c}"),
                                    index=language_index(tr.language),
                                    key=visit.key("language"), help=tr("new.language_help"))
    with left:
        form.voice = _voice_picker(visit, form.language, avatar_voice)
    _source_inputs(visit, form)
    _render_inputs(visit, form, settings.renderer)
    with st.expander(tr("new.more_options")):
        form.check = st.checkbox(tr("new.check"), value=settings.qa_enabled, key="check")
        form.batch = st.text_input(tr("new.batch"), key="batch")

    draft_text = _draft_step(visit, form) if form.source in WRITER_SOURCES else None
    ready = form.source not in WRITER_SOURCES or draft_text is not None
    if ready and st.button(tr("new.submit"), type="primary", key="submit"):
        try:
            job = submit_form(visit.console.service, form, created_by=visit.actor, draft_text=draft_text,
                              writer_ready=writer.ok)
        except FormError as exc:
            st.error(exc.in_language(tr.language))
        else:
            st.session_state[CURRENT_JOB] = job.id
            st.session_state.pop(DRAFT, None)

    job_id = st.session_state.get(CURRENT_JOB)
    if job_id:
        st.subheader(tr("new.your_video"))
        show_job(visit, job_id)


def _draft_step(visit: Visit, form: NewVideoForm) -> str | None:
    """Write the draft on request, then show it editable with its estimate and fact check.
    Returns the text to speak, or None while there is no draft yet."""
    tr = visit.tr
    draft: Draft | None = st.session_state.get(DRAFT)
    if draft is None or draft.request.get("use_case") != form.source:
        if st.button(tr("new.write_draft"), type="primary", key="write_draft"):
            try:
                with st.spinner(tr("new.writing")):
                    draft = write_draft(visit.console.service, form)
            except FormError as exc:
                st.error(exc.in_language(tr.language))
            except StageError as exc:
                st.error(tr("new.draft_failed", problem=str(exc)))
            else:
                st.session_state[DRAFT] = draft
                st.session_state["draft_text"] = draft.text
                st.rerun()
        return None

    st.subheader(tr("new.draft_header"))
    text = st.text_area(tr("new.draft_text"), height=220, key="draft_text")
    check = check_draft(draft, text)
    st.caption(tr("new.draft_estimate", seconds=check.estimated_seconds, target=draft.target_seconds))
    if check.unsupported_facts:
        st.warning(tr("new.draft_grounding", facts=", ".join(f"“{fact}”" for fact in check.unsupported_facts)))
    else:
        st.success(tr("new.draft_grounded"))
    if draft.blocked_terms:
        st.error(tr("new.draft_blocked", terms=", ".join(draft.blocked_terms)))
    for warning in draft.warnings:
        st.caption(tr("new.draft_warning", warning=warning))
    if st.button(tr("new.draft_discard"), key="discard_draft"):
        st.session_state.pop(DRAFT, None)
        st.rerun()
    return text


def _portrait(visit: Visit) -> tuple[Upload | None, str | None]:
    """The photo to animate: uploaded now, or picked from the avatar library (whose default
    voice then comes along). An upload can be checked and saved to the library."""
    from factory.avatars import list_avatars

    tr = visit.tr
    service = visit.console.service
    avatars = {avatar.id: avatar for avatar in list_avatars(service.jobs)}
    choice = "upload"
    if avatars:
        choice = st.radio(tr("new.photo_from"), ["upload", "library"], format_func=lambda c: tr(f"new.photo_{c}"),
                          horizontal=True, key="photo_from")
    if choice == "library":
        avatar = avatars[st.selectbox(tr("new.avatar"), list(avatars), format_func=lambda i: avatars[i].name,
                                      key="avatar")]
        path = service.artifacts.fetch(avatar.image)
        data = path.read_bytes()
        _show_face(visit, data, avatar.face, avatar.name)
        return Upload(f"{avatar.name}{path.suffix}", data, face_checked=True), avatar.voice
    image = _upload(tr("new.portrait"), IMAGE_TYPES, "portrait")
    if image is not None and _preview_image(visit, image):
        _save_avatar(visit, image)
    return image, None


def _show_face(visit: Visit, data: bytes, face: dict, caption: str) -> None:
    from ui.library import face_crop

    photo, crop = st.columns(2)
    photo.image(data, caption=caption, width=240)
    cropped = face_crop(data, face)
    if cropped is not None:
        crop.image(cropped, caption=visit.tr("new.face_found"), width=160)


def _save_avatar(visit: Visit, image: Upload) -> None:
    from factory.avatars import AvatarError
    from ui.library import add_to_library

    tr = visit.tr
    with st.expander(tr("new.save_avatar")):
        name = st.text_input(tr("new.avatar_name"), key="avatar_name")
        voice = st.session_state.get("voice_choice") or None
        if st.button(tr("new.check_and_save"), key="save_avatar", disabled=not name.strip()):
            try:
                avatar = add_to_library(visit.console.service, name, image.name, image.data, voice, visit.actor)
            except AvatarError as exc:
                st.error(tr("new.avatar_refused", problem=exc.in_language(tr.language)))
            else:
                st.success(tr("new.avatar_saved", name=avatar.name))
                _show_face(visit, image.data, avatar.face, avatar.name)


def _voice_picker(visit: Visit, language: str, avatar_voice: str | None) -> str:
    """The voices that speak the narration's language, with their licence and a sample.
    Returns the voice's name ("" = the factory's default for the language)."""
    from tts.voices import default_voice
    from ui.library import voices_for

    tr = visit.tr
    voices = {voice.name: voice for voice in voices_for(language)}
    names = ["", *voices]
    preferred = avatar_voice if avatar_voice in voices else ""
    fallback = default_voice(language)
    name = st.selectbox(
        tr("new.voice"), names, index=names.index(preferred), key=visit.key(f"voice_choice_{language}"),
        format_func=lambda n: tr("new.voice_default", name=fallback.name if fallback else "—") if n == "" else n,
        help=tr("new.voice_help"),
    )
    st.session_state["voice_choice"] = name
    voice = voices.get(name) or (fallback if fallback and fallback.name in voices else None)
    if voice is None:
        st.warning(tr("new.no_voice", language=tr(f"lang.{language}")))
        return name
    st.caption(tr("new.voice_licence", licence=voice.licence))
    if not voice.commercial_use:
        st.warning(tr("new.voice_noncommercial", name=voice.name))
    if st.button(tr("new.voice_sample"), key=f"sample-{voice.name}"):
        try:
            with st.spinner(tr("new.voice_sampling")):
                st.audio(_voice_sample(voice.name, language, str(visit.console.settings.cache_dir)), format="audio/wav")
        except StageError as exc:
            st.error(str(exc))
    return name


@st.cache_data(max_entries=20, show_spinner=False)
def _voice_sample(name: str, language: str, cache_dir: str) -> bytes:
    from pathlib import Path

    from ui.library import voice_sample

    return voice_sample(name, language, Path(cache_dir))


def _upload(label: str, types: list[str], key: str) -> Upload | None:
    file = st.file_uploader(label, type=types, key=key)
    return Upload(file.name, file.getvalue()) if file is not None else None


def _preview_image(visit: Visit, image: Upload) -> bool:
    """Show the uploaded photo; False (with a warning) when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image.data)) as img:
            img.verify()  # cheap structural check; the service does the full one on submit
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        st.warning(visit.tr("new.not_an_image", name=image.name))
        return False
    st.image(image.data, caption=image.name, width=240)
    return True


def _source_inputs(visit: Visit, form: NewVideoForm) -> None:
    tr = visit.tr
    if form.source == "script":
        form.script = st.text_area(tr("new.script"), height=160, key="script")
    elif form.source == "recording":
        form.recording = _upload(tr("new.recording"), AUDIO_TYPES, "recording")
        if form.recording is not None:
            st.audio(form.recording.data)
    elif form.source == "topic":
        form.topic = st.text_input(tr("new.topic"), key="topic")
        form.summary = st.text_area(tr("new.summary"), height=100, key="summary")
    elif form.source == "policy":
        _policy_inputs(visit, form)
    elif form.source == "product":
        left, right = st.columns(2)
        form.product_name = left.text_input(tr("new.product_name"), key="product_name")
        form.product_price = right.text_input(tr("new.product_price"), key="product_price")
        form.product_features = st.text_area(tr("new.product_features"), height=100, key="product_features")
        form.product_promotion = st.text_input(tr("new.product_promotion"), key="product_promotion")
    if form.source in WRITER_SOURCES:
        form.target_seconds = st.slider(tr("new.target_seconds"), 5, 300, int(default_target_seconds(form.source)),
                                        key=f"seconds_{form.source}")


def _policy_inputs(visit: Visit, form: NewVideoForm) -> None:
    from factory.documents import DocumentError

    tr = visit.tr
    types = document_types()
    document = _upload(tr("new.policy_file", types=", ".join(t.upper() for t in types)), types, "policy_file")
    if document is not None:
        try:
            form.policy_text = _document_text(document.name, document.data)
        except DocumentError as exc:
            st.error(tr("new.policy_unreadable", name=document.name, problem=str(exc)))
        else:
            st.caption(tr("new.policy_read", name=document.name, chars=len(form.policy_text)))
            return
    form.policy_text = st.text_area(tr("new.policy_paste"), height=160, key="policy_text")


@st.cache_data(max_entries=20, show_spinner=False)
def _document_text(name: str, data: bytes) -> str:
    # Cached: a long PDF is read once, not on every click of the page.
    return read_document(Upload(name, data))


def _render_inputs(visit: Visit, form: NewVideoForm, default_renderer: str) -> None:
    tr = visit.tr
    with st.expander(tr("new.render_params")):
        from sonic.stage import RENDERERS

        renderers = list(RENDERERS)
        form.renderer = st.selectbox(
            tr("new.renderer"), renderers,
            index=renderers.index(default_renderer) if default_renderer in renderers else 0,
            key="renderer", help=tr("new.renderer_help"),
        )
        form.render = {spec.name: _param_input(visit, spec, form.renderer) for spec in render_param_specs(form.renderer)}


def _param_input(visit: Visit, spec: ParamSpec, renderer: str) -> Any:
    # The key includes the renderer where the default depends on it, so switching renderer
    # resets that slider to the new default instead of keeping the old one.
    key = f"param_{spec.name}_{renderer}" if spec.name == "min_resolution" else f"param_{spec.name}"
    label, help_text = visit.tr.param_label(spec.name), visit.tr.param_help(spec.name, spec.help)
    if spec.kind is bool:
        return st.checkbox(label, value=bool(spec.default), help=help_text, key=key)
    if spec.low is None or spec.high is None:
        return st.number_input(label, value=spec.kind(spec.default), step=spec.kind(1), help=help_text, key=key)
    low, high, default = spec.kind(spec.low), spec.kind(spec.high), spec.kind(spec.default)
    return st.slider(label, low, high, default, step=spec.kind(slider_step(spec)), help=help_text, key=key)
