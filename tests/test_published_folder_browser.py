"""A folder publishing target, as a visitor of the team's site sees it: the generated index.html
opened in headless Chromium lists the published video, which plays, with its subtitles.
`pytest -k browser` selects it; under CI=true a missing browser is a failure, never a skip."""

from __future__ import annotations

import functools
import http.server
import threading

from test_console_browser import PLAY, chrome  # noqa: F401  (the fixture)

from factory.outbox import deliver_due
from factory.store import JobStatus


def test_folder_index_plays_the_published_video_in_a_browser(settings, portrait_path, chrome, tmp_path):  # noqa: F811
    from factory.service import JobService
    from factory.targets import job_publish_params

    site = tmp_path / "site"
    with JobService(settings) as service:
        job = service.submit(image=portrait_path, script="Our library opens again on Monday.",
                             params=job_publish_params([{"kind": "folder", "path": str(site)}]))
        job = service.follow(job.id)
        assert job.status == JobStatus.PUBLISHED, job.error
        while deliver_due(service.jobs, settings):
            pass
        job = service.get(job.id)
    assert str(site) in " ".join(job.values.get("published_to", {}).values())

    assert {".html", ".mp4", ".srt", ".vtt"} <= {p.suffix for p in site.iterdir()}
    # served as the team's web server would serve the folder (browsers load no subtitles from file://)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _watch_it(chrome, f"http://127.0.0.1:{server.server_port}/index.html", tmp_path)
    finally:
        server.shutdown()


def _watch_it(chrome, url, tmp_path):  # noqa: F811
    chrome.get(url)
    [video] = chrome.find_elements("css selector", "video")
    played = chrome.execute_async_script(PLAY, video)
    assert played["ok"], played
    cues = chrome.execute_async_script("""
        const video = arguments[0], done = arguments[arguments.length - 1];
        const track = video.textTracks[0];
        if (!track) return done(-1);
        track.mode = 'showing';
        const deadline = Date.now() + 5000;
        (function poll() {
          if (track.cues && track.cues.length) done(track.cues.length);
          else if (Date.now() > deadline) done(0);
          else setTimeout(poll, 50);
        })();""", video)
    assert cues > 0, "the subtitles did not load"
    chrome.save_screenshot(str(tmp_path / "published-index.png"))
