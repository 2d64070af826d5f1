"""The blackboard values (``factory.payloads``): what each stage stores reads back, through JSON,
and values stored before these classes existed read back unchanged."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from factory.payloads import (
    Narration,
    Published,
    QASummary,
    RenderFacts,
    SpeechFacts,
    Timing,
    WriterRequest,
)

# Values as the stages stored them (dicts written out key by key), one per payload and variant.
STORED = {
    "speech (tts)": (SpeechFacts, {
        "seconds": 2.1, "sample_rate": 22050,
        "phonemes": [["h", 0.03, 0.07], ["ə", 0.07, 0.13], ["l", 0.13, 0.2]],
        "words": [["Hello", 0.03, 0.4], ["there.", 0.45, 0.9]],
        "engine": "piper:en_US-joe-medium", "text": "Hello there.", "source": "tts", "units_per_second": 2.857,
    }),
    "speech (upload)": (SpeechFacts, {
        "seconds": 3.52, "sample_rate": 48000, "phonemes": [], "words": [], "source": "upload",
    }),
    "render (cpu)": (RenderFacts, {
        "renderer": "cpu-2", "fps": 25, "frames": 78, "width": 512, "height": 640, "seconds": 3.12,
        "face_box": [120.5, 88.0, 380.2, 400.1], "warnings": ["2 faces found: the largest is used."],
        "params": {"min_resolution": 512, "expand_ratio": 0.15, "inference_steps": 25, "dynamic_scale": 1.1,
                   "motion_scale": 1.05, "seed": 0, "keep_crop": False},
        "mouth": "phonemes",
    }),
    "render (sonic)": (RenderFacts, {
        "renderer": "sonic-6", "fps": 25, "frames": 250, "width": 1024, "height": 1024, "seconds": 10.0,
        "face_box": [300.0, 210.0, 700.0, 690.0], "warnings": [],
        "params": {"min_resolution": 1024, "expand_ratio": 0.15, "inference_steps": 25, "dynamic_scale": 1.1,
                   "motion_scale": 1.05, "seed": 0, "keep_crop": True},
        "renderer_report": {"seconds": 154.8, "first_frame_seconds": 150.2, "peak_gpu_gib": 19.0},
    }),
    "qa": (QASummary, {
        "passed": False, "reasons": ["The mouth does not follow the voice: lip-sync confidence 0.12."],
        "numbers": {"offset_frames": 3, "sync_confidence": 0.12, "sync_min_confidence": 0.45, "sync_z": 1.1,
                    "wer": 0.04, "duration": 0.0, "face_visible": 1.0},
        "checks": {"lip_sync_confidence": False, "lip_sync_offset": True, "wer": True, "duration": True},
        "seconds": 6.3, "attempt": 1,
    }),
    "narration": (Narration, {
        "title": "The library reopens", "narration": "The city library reopens on Monday.",
        "captions": ["Library reopens"], "language": "en", "estimated_seconds": 3.2, "target_seconds": 40.0,
        "model": "local/smollm2-135m", "template_version": "topic_brief@1", "prompt_tokens": 210,
        "completion_tokens": 48, "cost_usd": 0.0, "attempts": 1, "notes_calls": 0,
        "grounding_issues": [{"text": "Monday", "kind": "date"}], "blocked_terms": [], "warnings": [],
        "plain_text_fallback": False, "cut_to_length": False, "speaking_rate": 2.5,
    }),
    "published": (Published, {
        "video": "file:///srv/published/j1.mp4", "subtitles_srt": "file:///srv/published/j1.srt",
        "subtitles_vtt": "file:///srv/published/j1.vtt",
    }),
    "published (no subtitles)": (Published, {"video": "file:///srv/published/j2.mp4"}),
    # As JobService.submit stores what the CLI / batch / console built (rate added when measured).
    "writer_request (topic)": (WriterRequest, {
        "use_case": "topic", "topic": "Library reopens", "summary": "", "language": "en",
        "target_seconds": None, "speaking_rate": 2.6,
    }),
    "writer_request (policy)": (WriterRequest, {
        "use_case": "policy", "source": "Section 1. ...", "language": "zh", "target_seconds": 75.0,
    }),
    "writer_request (product)": (WriterRequest, {
        "use_case": "product", "product": {"name": "Aurora lamp", "price": "39.99", "features": ["dimmable", "USB-C"]},
        "language": "en", "target_seconds": 25.0,
    }),
}


@pytest.mark.parametrize("name", STORED)
def test_a_stored_value_reads_back_and_is_written_with_the_same_keys(name):
    cls, stored = STORED[name]
    payload = cls.from_value(json.loads(json.dumps(stored)))  # as it comes back from the database
    assert payload.to_value() == stored
    assert cls.from_value(json.loads(json.dumps(payload.to_value()))) == payload


def test_typed_fields_read_as_their_types():
    speech = SpeechFacts.from_value(STORED["speech (tts)"][1])
    assert speech.phonemes[1] == Timing("ə", 0.07, 0.13) and speech.phonemes[1].label == "ə"
    assert speech.words[0].end == 0.4
    render = RenderFacts.from_value(STORED["render (sonic)"][1])
    assert render.face_box == (300.0, 210.0, 700.0, 690.0) and render.mouth is None
    qa = QASummary.from_value(STORED["qa"][1])
    assert qa.failed_checks() == {"lip_sync_confidence"}


def test_optional_keys_may_be_missing_and_unknown_keys_are_ignored():
    # what a test or an older job may hold: the renderer only needs the phonemes
    speech = SpeechFacts.from_value({"seconds": 3.1, "phonemes": [["h", 0.03, 0.07]], "added_later": 1})
    assert speech.sample_rate is None and speech.words == [] and speech.source is None
    assert speech.to_value() == {"seconds": 3.1, "phonemes": [["h", 0.03, 0.07]], "words": []}
    assert QASummary.from_value({"passed": True}) == QASummary(passed=True)
    minimal = {"title": "T", "narration": "Some words.", "captions": ["T"], "language": "zh",
               "estimated_seconds": 1.0, "target_seconds": 30.0}
    assert Narration.from_value(minimal).cost_usd == 0.0


def test_values_written_by_the_stages_are_plain_json():
    speech = SpeechFacts(seconds=1.0, sample_rate=22050, phonemes=[Timing("a", 0.1, 0.2)], source="tts")
    assert json.loads(json.dumps(speech.to_value()))["phonemes"] == [["a", 0.1, 0.2]]
    render = RenderFacts(renderer="cpu-2", fps=25, frames=25, width=8, height=8, seconds=1.0, face_box=(1, 2, 3, 4))
    assert json.loads(json.dumps(render.to_value()))["face_box"] == [1, 2, 3, 4]
    assert "mouth" not in render.to_value() and "renderer_report" not in render.to_value()


def test_a_narration_is_checked_when_made():
    with pytest.raises(ValueError, match="captions"):
        Narration(title="T", narration="Words.", captions=[], language="en", estimated_seconds=1.0, target_seconds=5.0)
    with pytest.raises(ValueError, match="language"):
        Narration(title="T", narration="Words.", captions=["T"], language="fr", estimated_seconds=1.0, target_seconds=5.0)


# --- the writer request's builders ----------------------------------------------------------------
def test_builders_make_the_requests_the_writer_reads():
    topic = WriterRequest.for_topic("  Library reopens ", None, "en", 40)
    assert topic.to_value() == {"use_case": "topic", "topic": "Library reopens", "summary": "",
                                "language": "en", "target_seconds": 40.0}
    source = "  Section 1.\n\nThe text, kept as given.  "
    assert WriterRequest.for_policy(source, "zh").to_value() == {
        "use_case": "policy", "source": source, "language": "zh", "target_seconds": None}


def test_a_product_row_keeps_every_field_and_splits_a_features_string():
    row = {"name": " Aurora lamp ", "features": "dimmable; USB-C;  ; warm white", "price": 39.99,
           "promotion": "", "brand": "Lumen", "currency": None}
    request = WriterRequest.for_product(row, "en", 25.0)
    # empty values carry nothing and are left out; a field the template does not name is kept
    assert request.product == {"name": "Aurora lamp", "features": ["dimmable", "USB-C", "warm white"],
                               "price": 39.99, "brand": "Lumen"}
    assert WriterRequest.for_product({"features": [" a ", "", "b"]}).product == {"features": ["a", "b"]}


def test_the_builders_refuse_nothing_the_writer_refuses_it_visibly():
    from factory.stages import StageError
    from prompts.request import NarrationRequest

    nameless = WriterRequest.for_product({"features": "cheap"}, "en", 20)
    assert nameless.to_value()["product"] == {"features": ["cheap"]}
    with pytest.raises(StageError, match="no name"):
        NarrationRequest.from_dict(nameless.to_value()).validate()
    with pytest.raises(StageError, match="topic is empty"):
        NarrationRequest.from_dict(WriterRequest.for_topic("   ").to_value()).validate()


def test_an_unknown_key_in_a_writer_request_is_reported_not_dropped():
    from factory.stages import StageError
    from prompts.request import NarrationRequest

    with pytest.raises(ValueError, match="Unknown field.*sumary"):
        WriterRequest.from_value({"use_case": "topic", "topic": "x", "sumary": "typo"})
    with pytest.raises(StageError, match="no use_case"):
        NarrationRequest.from_dict({"topic": "x"})
    request = NarrationRequest.from_dict(WriterRequest.for_topic("x", "y").to_value())
    assert isinstance(request, WriterRequest) and request.grounding_source() == "x\ny"


def test_a_batch_row_is_built_with_the_builder():
    from pathlib import Path

    from factory.batch import plan_rows

    row = {"name": "Aurora lamp", "features": "dimmable; USB-C", "price": "39.99", "image": "", "script": ""}
    planned = plan_rows([row], Path("/img.png"), "en", 25.0, Path("."))
    assert planned[0].writer_request == WriterRequest.for_product(
        {"name": "Aurora lamp", "features": "dimmable; USB-C", "price": "39.99"}, "en", 25.0).to_value()


def test_importing_the_payloads_stays_light():
    code = "import sys, factory.payloads; print(sorted(m for m in ('numpy', 'sqlmodel', 'torch', 'click') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
