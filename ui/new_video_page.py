"""Page 1, "New video": a portrait + what to say + voice + render parameters → a job, then its
live progress and the finished video."""

from __future__ import annotations

import io
from typing import Any

import streamlit as st

from factory.stages import ParamSpec
from ui.console import Console
from ui.job_widgets import show_job
from ui.render_params import label, render_param_specs, slider_step
from ui.submission import (
    AUDIO_TYPES,
    IMAGE_TYPES,
    LANGUAGES,
    SOURCES,
    WRITER_SOURCES,
    FormError,
    NewVideoForm,
    Upload,
    default_target_seconds,
    stage_installed,
    submit_form,
)

CURRENT_JOB = "current_job"  # session-state key: the job this browser tab submitted last


def new_video_page(console: Console) -> None:
    st.header("New video")
    settings = console.settings
    missing = [s for s in ("speak", "render", "check") if not stage_installed(s)]
    if missing:
        st.warning(
            f"Not installed on this machine: the {', '.join(missing)} stage(s). "
            "Jobs will stop when they reach them."
        )

    image = _upload("Portrait photo (one face, looking at the camera)", IMAGE_TYPES, "portrait")
    if image is not None:
        _preview_image(image)

    labels = list(SOURCES.values())
    source_label = st.radio("What should the portrait say?", labels, horizontal=True, key="source")
    source = next(key for key, label in SOURCES.items() if label == source_label)
    form = NewVideoForm(image=image, source=source, check=settings.qa_enabled)
    writer_missing = source in WRITER_SOURCES and not stage_installed("write")
    _source_inputs(form)
    if writer_missing:
        st.info(
            "The writer stage (an LLM that drafts the narration) is not installed on this machine. "
            "Paste a script or upload a recording instead."
        )

    left, right = st.columns(2)
    form.voice = left.text_input(
        "Voice",
        value=settings.voice,
        key="voice",
        help="Empty: the bundled English voice (en_US joe). Or the path of a Piper .onnx voice file on the server.",
    )
    form.language = right.selectbox(
        "Language", list(LANGUAGES), format_func=LANGUAGES.get, key="language", help="The narration's language."
    )
    _render_inputs(form, settings.renderer)

    with st.expander("More options"):
        form.check = st.checkbox(
            "Quality check (Whisper transcript + lip-sync score) before publishing",
            value=settings.qa_enabled,
            key="check",
        )
        form.batch = st.text_input("Batch name (optional, to find the job later)", key="batch")

    if st.button("Make the video", type="primary", disabled=writer_missing, key="submit"):
        try:
            job = submit_form(console.service, form)
        except (FormError, ValueError) as exc:
            st.error(str(exc))
        else:
            st.session_state[CURRENT_JOB] = job.id

    job_id = st.session_state.get(CURRENT_JOB)
    if job_id:
        st.subheader("Your video")
        show_job(console, job_id)


def _upload(label: str, types: list[str], key: str) -> Upload | None:
    file = st.file_uploader(label, type=types, key=key)
    return Upload(file.name, file.getvalue()) if file is not None else None


def _preview_image(image: Upload) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image.data)) as img:
            img.verify()  # cheap structural check; the service does the full one on submit
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        st.warning(f"{image.name} does not look like an image (use JPEG, PNG or WebP).")
        return
    st.image(image.data, caption=image.name, width=240)


def _source_inputs(form: NewVideoForm) -> None:
    if form.source == "script":
        form.script = st.text_area("Script (the exact words to speak)", height=160, key="script")
    elif form.source == "recording":
        form.recording = _upload("Your recording (any common audio format)", AUDIO_TYPES, "recording")
        if form.recording is not None:
            st.audio(form.recording.data)
    elif form.source == "topic":
        form.topic = st.text_input("Headline", key="topic")
        form.summary = st.text_area("Summary (optional)", height=100, key="summary")
    elif form.source == "policy":
        document = st.file_uploader("Policy document (text file)", type=["txt", "md"], key="policy_file")
        if document is not None:
            form.policy_text = document.getvalue().decode("utf-8", errors="replace")
            st.caption(f"{document.name}: {len(form.policy_text):,} characters")
        else:
            form.policy_text = st.text_area("…or paste the policy text", height=160, key="policy_text")
    elif form.source == "product":
        left, right = st.columns(2)
        form.product_name = left.text_input("Product name", key="product_name")
        form.product_price = right.text_input("Price", key="product_price")
        form.product_features = st.text_area("Features (one per line)", height=100, key="product_features")
        form.product_promotion = st.text_input("Promotion (optional)", key="product_promotion")
    if form.source in WRITER_SOURCES:
        form.target_seconds = st.slider(
            "Target length (seconds)", 5, 300, int(default_target_seconds(form.source)), key=f"seconds_{form.source}"
        )


def _render_inputs(form: NewVideoForm, default_renderer: str) -> None:
    with st.expander("Render parameters"):
        from sonic.stage import RENDERERS

        renderers = list(RENDERERS)
        form.renderer = st.selectbox(
            "Renderer",
            renderers,
            index=renderers.index(default_renderer) if default_renderer in renderers else 0,
            key="renderer",
            help="cpu: the built-in renderer (any machine). sonic: the Sonic diffusion model (GPU and its official weights).",
        )
        values: dict[str, Any] = {}
        for spec in render_param_specs(form.renderer):
            values[spec.name] = _param_input(spec, form.renderer)
        form.render = values


def _param_input(spec: ParamSpec, renderer: str) -> Any:
    # The key includes the renderer where the default depends on it, so switching renderer
    # resets that slider to the new default instead of keeping the old one.
    key = f"param_{spec.name}_{renderer}" if spec.name == "min_resolution" else f"param_{spec.name}"
    if spec.kind is bool:
        return st.checkbox(label(spec), value=bool(spec.default), help=spec.help, key=key)
    if spec.low is None or spec.high is None:
        return st.number_input(label(spec), value=spec.kind(spec.default), step=spec.kind(1), help=spec.help, key=key)
    low, high, default = spec.kind(spec.low), spec.kind(spec.high), spec.kind(spec.default)
    return st.slider(label(spec), low, high, default, step=spec.kind(slider_step(spec)), help=spec.help, key=key)
