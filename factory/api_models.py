"""The HTTP API's request and response bodies (pydantic), from which its OpenAPI document is built.

Request bodies refuse unknown fields (``extra="forbid"``) and bound every number, so a typo or
an absurd value is a 422 with the field's name instead of a silently ignored field or a
database overflow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from factory.payloads import NARRATION_LANGUAGES

Language = Literal[NARRATION_LANGUAGES]
RenderValue = bool | int | float | str
URL_PATTERN = r"^https?://[^\s]+$"
Priority = Annotated[int, Field(ge=0, le=10)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Url = Annotated[str, Field(max_length=2000, pattern=URL_PATTERN)]
Seconds = Annotated[float, Field(ge=5, le=300)]
Omitted = SkipJsonSchema[None]
"""An optional request field is left out when not wanted; ``null`` is not part of the contract."""


class Strict(BaseModel):
    """A request body: unknown fields and explicit nulls are refused (leave a field out instead)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(str(key) for key, value in data.items() if value is None)
            if nulls:
                raise ValueError(f"leave out {', '.join(nulls)} instead of sending null")
        return data


# --- jobs -------------------------------------------------------------------------------------


class WriterRequestIn(Strict):
    """Ask the writer (LLM) for the narration instead of giving a script."""

    use_case: Literal["policy", "topic", "product"]
    language: Language = "en"
    target_seconds: Seconds | Omitted = Field(None, description="Spoken length wanted.")
    source: str = Field("", max_length=100_000, description="policy: the document's text.")
    topic: str = Field("", max_length=1000, description="topic: the headline.")
    summary: str = Field("", max_length=10_000, description="topic: an optional summary.")
    product: dict[str, str | float | list[str]] | Omitted = Field(
        None, description='product: the row, e.g. {"name": ..., "features": [...], "price": ...}.')


class JobFields(Strict):
    """What a job is made of, besides the files (shared by the JSON and the multipart forms)."""

    avatar: Name | Omitted = Field(None, description="An avatar's id or name from /avatars (instead of uploading an image).")
    script: Annotated[str, Field(min_length=1, max_length=20_000)] | Omitted = Field(None, description="The narration, as is.")
    writer_request: WriterRequestIn | Omitted = None
    voice: Annotated[str, Field(min_length=1, max_length=200)] | Omitted = Field(
        None, description="A voice id from /voices (else the avatar's, else the default).")
    language: Language | Omitted = Field(
        None, description="The narration's language (default: zh for a script written in Chinese, else en).")
    params: dict[str, RenderValue] = Field(default_factory=dict,
                                           description="Render parameters (see the render stage's params) and renderer.")
    check: bool | Omitted = Field(None, description="Run the QA stage (default: the server's setting).")
    priority: Priority | Omitted = Field(None, description="Queue priority, 0 (batch) to 10.")
    batch: Name | Omitted = Field(None)
    callback_url: Url | Omitted = Field(None, description="Where this job's webhooks go (else the token's default).")


class JobCreate(JobFields):
    """``POST /jobs`` as JSON: the portrait comes from the avatar library; exactly one of
    ``script`` or ``writer_request``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": ["script"]}, {"required": ["writer_request"]}]})

    avatar: str = Field(..., min_length=1, max_length=64, description="An avatar's id or name from /avatars.")

    @model_validator(mode="after")
    def one_source(self) -> JobCreate:
        if (self.script is None) == (self.writer_request is None):
            raise ValueError("give exactly one of: script or writer_request")
        return self


class JobUpload(BaseModel):
    """``POST /jobs`` as multipart/form-data (documentation of the form's fields)."""

    image: bytes | Omitted = Field(None, json_schema_extra={"format": "binary"},
                                description="Portrait photo (JPEG, PNG, WebP); or give avatar.")
    audio: bytes | Omitted = Field(None, json_schema_extra={"format": "binary"},
                                description="Own recording instead of a script.")
    avatar: Annotated[str, Field(max_length=64)] | Omitted = Field(None)
    script: Annotated[str, Field(max_length=20_000)] | Omitted = Field(None)
    writer_request: Annotated[str, Field(max_length=200_000)] | Omitted = Field(None, description="JSON object, as in the JSON form.")
    params: Annotated[str, Field(max_length=10_000)] | Omitted = Field(None, description="JSON object of render parameters.")
    voice: Annotated[str, Field(max_length=200)] | Omitted = Field(None)
    language: Language | Omitted = None
    check: bool | Omitted = None
    priority: Priority | Omitted = Field(None)
    batch: Annotated[str, Field(max_length=64)] | Omitted = Field(None)
    callback_url: Url | Omitted = Field(None)


class StageRunOut(BaseModel):
    stage: str
    attempt: int
    status: str
    seconds: float | None = None
    error: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    worker: str | None = None


class ProgressOut(BaseModel):
    fraction: float
    note: str


class DeliveryAttemptOut(BaseModel):
    at: str
    ok: bool
    note: str | None = None


class DeliveryOut(BaseModel):
    event_id: str
    kind: str
    destination: str
    event: str | None = None
    status: str
    attempts: list[DeliveryAttemptOut]


class JobSummary(BaseModel):
    id: str
    status: str
    plan: list[str]
    next_stage: str | None = None
    params: dict[str, Any]
    files: dict[str, str]
    """Artifact name -> artifact id; download with /jobs/{id}/artifacts/{name}."""
    error: str | None = None
    review: dict[str, Any] | None = None
    priority: int
    batch: str | None = None
    created_by: str | None = None
    decided_by: str | None = None
    callback_url: str | None = None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None


class JobOut(JobSummary):
    values: dict[str, Any]
    stages: list[StageRunOut] = []
    progress: dict[str, ProgressOut] = {}
    deliveries: list[DeliveryOut] = []


class JobPage(BaseModel):
    items: list[JobSummary]
    total: int
    limit: int
    offset: int


class RejectIn(Strict):
    note: str = Field(..., min_length=1, max_length=2000, description="Why: stored on the job and sent in its webhook.")


# --- batches -------------------------------------------------------------------------------------


class BatchRowIn(Strict):
    """One row: a script, a topic (+ summary) or a product (name, features, price, ...)."""

    script: Annotated[str, Field(min_length=1, max_length=20_000)] | Omitted = Field(None)
    topic: Annotated[str, Field(max_length=1000)] | Omitted = Field(None)
    summary: Annotated[str, Field(max_length=10_000)] | Omitted = Field(None)
    name: Annotated[str, Field(max_length=500)] | Omitted = Field(None)
    features: list[str] | str | Omitted = None
    price: str | float | Omitted = None
    promotion: Annotated[str, Field(max_length=1000)] | Omitted = Field(None)
    currency: Annotated[str, Field(max_length=8)] | Omitted = Field(None)
    avatar: Annotated[str, Field(max_length=64)] | Omitted = Field(None, description="This row's avatar (else the batch's).")
    voice: Annotated[str, Field(max_length=200)] | Omitted = Field(None, description="This row's voice (else the batch's).")
    language: Language | Omitted = None
    seconds: Seconds | Omitted = Field(None)


class BatchCreate(Strict):
    rows: list[BatchRowIn] = Field(..., min_length=1, max_length=1000)
    avatar: Name | Omitted = Field(None, description="Avatar for rows without their own.")
    language: Language = "en"
    seconds: Seconds | Omitted = Field(None, description="Target length of written narrations.")
    voice: Annotated[str, Field(min_length=1, max_length=200)] | Omitted = Field(None)
    params: dict[str, RenderValue] = Field(default_factory=dict, description="Render parameters for every row.")
    check: bool | Omitted = None


class BatchUpload(BaseModel):
    """``POST /batches`` as multipart/form-data (documentation of the form's fields)."""

    file: bytes = Field(..., json_schema_extra={"format": "binary"}, description="The rows: .csv, .xlsx, .jsonl or .json.")
    avatar: Annotated[str, Field(max_length=64)] | Omitted = Field(None)
    image: bytes | Omitted = Field(None, json_schema_extra={"format": "binary"}, description="Portrait for every row (instead of avatar).")
    language: Language | Omitted = None
    seconds: Seconds | Omitted = Field(None)
    voice: Annotated[str, Field(max_length=200)] | Omitted = Field(None)
    params: Annotated[str, Field(max_length=10_000)] | Omitted = Field(None, description="JSON object of render parameters for every row.")
    check: bool | Omitted = None


class BatchRowOut(BaseModel):
    row: int
    job_id: str | None = None
    status: str
    """The job's status, or "skipped" for a row that could not become a job."""
    error: str | None = None


class BatchOut(BaseModel):
    id: str
    created_by: str | None = None
    created_at: datetime
    counts: dict[str, int]
    done: bool
    """Every job has stopped (published, failed, held, cancelled or dead)."""
    rows: list[BatchRowOut]


# --- library ----------------------------------------------------------------------------------------


class VoiceOut(BaseModel):
    id: str
    language: str | None = None
    name: str | None = None
    engine: str | None = None
    details: dict[str, Any] = {}


class AvatarOut(BaseModel):
    id: str
    name: str
    voice: str | None = None
    face: dict[str, Any]
    created_by: str | None = None
    created_at: datetime
    image_url: str
    """Where to download the photo (needs a token)."""


class AvatarUpload(BaseModel):
    """``POST /avatars`` (multipart/form-data)."""

    name: str = Field(..., min_length=1, max_length=64)
    image: bytes = Field(..., json_schema_extra={"format": "binary"}, description="One clear face: JPEG, PNG or WebP.")
    voice: Annotated[str, Field(max_length=200)] | Omitted = Field(None, description="Default voice for jobs with this avatar.")


class HealthOut(BaseModel):
    ok: bool
    mode: str
    """"embedded" or "distributed"."""
