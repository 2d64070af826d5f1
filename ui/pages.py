"""The console's pages in the sidebar's order, each with the least role that may open it
(``factory.identity`` roles: editor < reviewer < admin). Labels: ``ui.i18n`` "nav.<key>"."""

from __future__ import annotations

from typing import Callable

from ui.batches_page import batches_page
from ui.health_page import health_page
from ui.jobs_page import jobs_page
from ui.new_video_page import new_video_page
from ui.review_page import review_page
from ui.schedules_page import schedules_page
from ui.visit import Visit

PAGES: dict[str, tuple[Callable[[Visit], None], str]] = {
    "new_video": (new_video_page, "editor"),
    "jobs": (jobs_page, "editor"),
    "batches": (batches_page, "editor"),
    "schedules": (schedules_page, "editor"),
    "review": (review_page, "reviewer"),
    "health": (health_page, "editor"),
}
