"""The "Batches" page: a CSV or XLSX of product rows (or topics, or scripts) → one job per row.

The rows are checked before anything is submitted (``factory.batch.validate_rows``: a product
without a name, a price that is not a number, a photo without a face, a voice that does not
exist), each bad row with its reason; then the good rows are submitted, the batch's progress
follows live, and a ZIP of the videos with a manifest can be downloaded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from ui.submission import LANGUAGES, Upload, language_index
from ui.visit import Visit

if TYPE_CHECKING:
    from factory.batch import BatchProgress

ROWS_TYPES = ["csv", "xlsx", "jsonl", "json"]
MY_BATCHES = "my_batches"  # session-state key: the batches this tab submitted, newest first
POLL_SECONDS = 2.0


def batches_page(visit: Visit) -> None:
    tr = visit.tr
    st.header(tr("batch.header"))
    st.caption(tr("batch.columns"))
    rows_file = st.file_uploader(tr("batch.file"), type=ROWS_TYPES, key="batch_file")
    portrait = st.file_uploader(tr("batch.portrait"), type=["jpg", "jpeg", "png", "webp"], key="batch_portrait")
    language = st.selectbox(tr("new.language"), list(LANGUAGES), format_func=lambda c: tr(f"lang.{c}"),
                            index=language_index(tr.language),
                            key=visit.key("batch_language"))
    check = st.checkbox(tr("new.check"), value=visit.console.settings.qa_enabled, key="batch_check")

    if rows_file is not None:
        upload = Upload(rows_file.name, rows_file.getvalue())
        image = Upload(portrait.name, portrait.getvalue()) if portrait is not None else None
        _check_and_submit(visit, upload, image, language, check)

    _follow(visit)


def _files(folder: Path, rows: Upload, image: Upload | None) -> tuple[Path, Path | None]:
    # The browser's file names are never used as paths: only their suffixes.
    rows_path = folder / f"rows{Path(rows.name).suffix.lower()}"
    rows_path.write_bytes(rows.data)
    image_path = None
    if image is not None:
        image_path = folder / f"portrait{Path(image.name).suffix.lower()}"
        image_path.write_bytes(image.data)
    return rows_path, image_path


def _check_and_submit(visit: Visit, rows_upload: Upload, image: Upload | None, language: str, check: bool) -> None:
    from factory.batch import BatchFileError, read_rows, submit_batch, validate_rows

    tr = visit.tr
    service = visit.console.service
    with tempfile.TemporaryDirectory(prefix="factory-ui-") as tmp:
        rows_path, image_path = _files(Path(tmp), rows_upload, image)
        try:
            rows = read_rows(rows_path)
        except (BatchFileError, ValueError, OSError) as exc:
            st.error(tr("batch.unreadable", name=rows_upload.name, problem=str(exc)))
            return
        if not rows:
            st.warning(tr("batch.empty", name=rows_upload.name))
            return
        planned = validate_rows(rows, default_image=image_path, language=language, base=Path(tmp),
                                max_image_pixels=service.settings.max_image_pixels)
        bad = [row for row in planned if row.problem]
        st.dataframe([{tr("batch.col_row"): row.number, tr("batch.col_name"): row.name or "",
                       tr("batch.col_ok"): "❌" if row.problem else "✅", tr("batch.col_problem"): row.problem or ""}
                      for row in planned], hide_index=True)
        good = len(planned) - len(bad)
        if bad:
            st.warning(tr("batch.bad_rows", bad=len(bad), total=len(planned)))
        if not good:
            return
        if st.button(tr("batch.submit", count=good), type="primary", key="batch_submit"):
            try:
                result = submit_batch(service, rows, file_name=rows_upload.name, default_image=image_path,
                                      language=language, base=Path(tmp), check=check, submitted_by=visit.actor)
            except ValueError as exc:
                st.error(str(exc))
                return
            st.session_state[MY_BATCHES] = [result.batch_id, *st.session_state.get(MY_BATCHES, [])]
            st.success(tr("batch.submitted", batch=result.batch_id, jobs=len(result.jobs)))


def _follow(visit: Visit) -> None:
    """Progress of the newest batches (this tab's first, or one named by id), live while they
    run, and the ZIP."""
    from factory.batch import batch_progress, list_batches

    tr = visit.tr
    st.subheader(tr("batch.progress"))
    mine = st.session_state.get(MY_BATCHES, [])
    recent = [b.id for b in list_batches(visit.console.service.jobs, limit=5)]
    named = st.text_input(tr("batch.open"), key="batch_open").strip()
    batch_ids = [named] if named else list(dict.fromkeys([*mine, *recent]))[:5]
    if not batch_ids:
        st.info(tr("batch.none"))
        return
    for batch_id in batch_ids:
        try:
            progress = batch_progress(visit.console.service.jobs, batch_id)
        except KeyError:
            st.error(tr("batch.unknown", batch=batch_id))
            continue
        _batch_status(visit, batch_id, progress)


def _batch_status(visit: Visit, batch_id: str, progress: BatchProgress) -> None:
    """One batch's progress bar and row problems (``progress``: as just read), live until the
    batch is over; then the ZIP."""
    from factory.batch import batch_progress

    tr = visit.tr

    def show(progress: BatchProgress) -> None:
        fraction = progress.finished / progress.total if progress.total else 1.0
        counts = ", ".join(f"{tr.status(status)} {n}" for status, n in sorted(progress.counts.items()))
        st.progress(fraction, text=tr("batch.line", batch=batch_id, finished=progress.finished,
                                      total=progress.total, counts=counts))
        for row, problem in progress.problems:
            st.caption(tr("batch.row_problem", row=row, problem=problem))

    if not progress.done:
        unread = [progress]  # the first run shows what the caller read; each later tick reads anew

        @st.fragment(run_every=POLL_SECONDS)
        def live() -> None:
            current = unread.pop() if unread else batch_progress(visit.console.service.jobs, batch_id)
            show(current)
            if current.done:
                st.rerun()  # the whole page again: the ZIP button appears
        live()
        return
    show(progress)
    if st.button(tr("batch.make_zip"), key=f"zip-{batch_id}"):
        st.download_button(tr("batch.download_zip"), data=_zip(visit, batch_id), file_name=f"{batch_id}.zip",
                           mime="application/zip", key=f"download-zip-{batch_id}")


def _zip(visit: Visit, batch_id: str) -> bytes:
    from factory.batch import batch_zip

    with tempfile.TemporaryDirectory(prefix="factory-ui-") as tmp:
        return batch_zip(visit.console.service, batch_id, Path(tmp) / "batch.zip").read_bytes()
