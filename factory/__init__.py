"""The talking-video factory: script or topic in, checked talking-portrait MP4 out.

The small public API:

    from factory import Settings, JobService
    service = JobService(Settings.load())
    job = service.submit(script="Hello there.", image="me.jpg")
    service.run(job.id)          # embedded mode: runs every stage in this process

Everything heavy (torch, mediapipe, faster-whisper, litellm) is imported inside the
functions that use it, so importing this package stays instant.
"""

from factory.settings import Settings

__all__ = ["Settings", "JobService"]


def __getattr__(name: str):
    # JobService pulls in SQLModel; load it only when asked for.
    if name == "JobService":
        from factory.service import JobService

        return JobService
    raise AttributeError(name)
