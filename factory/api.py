"""The HTTP API (FastAPI): submit jobs and batches, follow and decide them, download their files,
manage avatars; health and Prometheus metrics.

    factory tokens create crm --role editor --owner alice       (prints the token once)
    factory api --port 8000
    curl -H "Authorization: Bearer $TOKEN" -F image=@me.jpg -F script="Hello there." localhost:8000/jobs
    curl -H "Authorization: Bearer $TOKEN" localhost:8000/jobs/JOB_ID
    curl -H "Authorization: Bearer $TOKEN" -o me.mp4 localhost:8000/jobs/JOB_ID/artifacts/video

Every endpoint but ``/health`` (and the API's own documentation, ``/docs`` and
``/openapi.json``) needs a token; roles and the per-token rate limit are in
``factory.api_common``. The routes live in ``api_jobs`` (jobs and their files),
``api_batches`` and ``api_library`` (voices, avatars). Every error answers
``{"error": {"code", "message"}}``. docs/api.md is the user's guide.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from factory.service import JobService
from factory.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None):
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from factory import api_batches, api_jobs, api_library
    from factory.api_common import AUTH_ERRORS, CODES, ErrorBody, Limits, RateLimiter, error_body, \
        refuse_unknown_query, requires
    from factory.api_jobs import validation_message
    from factory.api_models import HealthOut

    service = JobService(settings or Settings.load())

    @contextlib.asynccontextmanager
    async def lifespan(app):
        service.deliver_in_background()  # webhooks of this process's jobs go out from here too
        yield
        service.close()  # a stage running here is stopped; its job is left to resume

    app = FastAPI(title="Talking-video factory", version="0.2.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  dependencies=[Depends(refuse_unknown_query)])
    app.state.service = service
    app.state.rate_limiter = RateLimiter(service.settings.api_rate_limit_per_minute)
    app.state.limits = Limits(max_bytes=int(service.settings.api_max_upload_mb * (1 << 20)),
                              max_image_pixels=service.settings.max_image_pixels,
                              max_audio_seconds=service.settings.max_audio_seconds)

    # --- one error shape --------------------------------------------------------------------
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, "error")
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"There is no endpoint {request.url.path}; see /docs."
        headers = getattr(exc, "headers", None)
        if exc.status_code == 400:  # FastAPI's "error parsing the body": a malformed request, like any other
            return JSONResponse(error_body(422, "The request body could not be read: send valid JSON or form data."),
                                status_code=422)
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /docs."
            headers = {"Allow": allowed_methods(app, request.url.path)}
        return JSONResponse(error_body(exc.status_code, message), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return JSONResponse(error_body(422, validation_message(list(exc.errors()))), status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        log.exception("API: %s %s failed", request.method, request.url.path)
        return JSONResponse(error_body(500, "Something went wrong on the server; it has been logged."), status_code=500)

    # --- routes -------------------------------------------------------------------------------
    app.include_router(api_jobs.router)
    app.include_router(api_batches.router)
    app.include_router(api_library.router)

    @app.get("/health", response_model=HealthOut, tags=["service"], summary="Is the service up",
             responses={503: {"model": ErrorBody, "description": "The job database cannot be reached."},
                        422: AUTH_ERRORS[422]})
    def health() -> Any:
        """Anonymous; says only whether the service and its database answer, and the mode."""
        from sqlalchemy import text

        try:
            with service.jobs.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            log.exception("health: the job database does not answer")
            return JSONResponse(error_body(503, "The job database does not answer."), status_code=503)
        return {"ok": True, "mode": service.dispatcher.mode}

    @app.get("/metrics", response_class=Response, tags=["service"], summary="Prometheus metrics",
             responses={**AUTH_ERRORS, 200: {"description": "Prometheus text format.",
                                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics(caller=Depends(requires("editor"))):
        """Jobs by status, stage durations, QA failures by check, queue depths, workers alive,
        render seconds: read from the job database at scrape time (both modes)."""
        from factory.metrics import exposition

        body, content_type = exposition(service.jobs, service.settings.worker_silent_seconds)
        return Response(body, media_type=content_type)

    serve_docs_offline(app)
    document_bodies(app)
    return app


def allowed_methods(app, path: str) -> str:
    """Every method the OpenAPI document lists for this path (Starlette names only the first
    matching route's, and ``/jobs`` has a GET route and a POST route)."""
    import re

    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)), path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


def document_bodies(app) -> None:
    """Add the request bodies that routes read themselves (JSON or multipart on one path) to the
    OpenAPI document's schemas, so its ``$ref``s resolve."""
    from fastapi.openapi.utils import get_openapi

    from factory.api_models import AvatarUpload, BatchCreate, BatchUpload, JobCreate, JobUpload

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                             description="Talking-video factory API. See docs/api.md.")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (JobCreate, JobUpload, BatchCreate, BatchUpload, AvatarUpload):
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


def serve_docs_offline(app) -> None:
    """``/docs`` with Swagger UI's files served from the ``swagger-ui-py`` package (Swagger UI 5,
    which reads FastAPI's OpenAPI 3.1): FastAPI's default page loads them from a CDN, so it stays
    blank on a machine without internet."""
    import swagger_ui
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-assets", StaticFiles(directory=Path(swagger_ui.__file__).parent / "static"), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} — API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")
