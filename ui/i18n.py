"""Every word the console shows, in English and Chinese.

    tr = Texts("zh")
    tr("jobs.header")                       # "任务"
    tr("job.failed", reason="no face")      # placeholders are str.format fields

One entry per message: its key, then the English and the Chinese text side by side, so a
missing translation is seen at a glance (and ``tests/test_ui_i18n.py`` checks that both have
the same placeholders and that every key the pages use exists). Plain Python: no Streamlit.

Texts that come from the factory itself (a job's error, a stage's refusal) are shown as the
factory wrote them; the console translates only its own words.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES: dict[str, str] = {"zh": "中文", "en": "English"}
"""The console's languages, each named in itself (the switch shows these)."""
DEFAULT_LANGUAGE = "zh"

MESSAGES: dict[str, tuple[str, str]] = {
    # --- the frame: title, navigation, language, login -------------------------------------------
    "app.title": ("Talking-video factory", "数字人视频工厂"),
    "app.cannot_start": ("The console cannot start: {problem}", "控制台无法启动：{problem}"),
    "app.language": ("Language", "语言"),
    "app.page": ("Page", "页面"),
    "app.mode_embedded": ("Embedded mode: jobs run inside this console, one at a time.",
                          "嵌入模式：任务在本控制台进程中逐个运行。"),
    "app.mode_distributed": ("Distributed mode: queue workers run the stages; this console follows the jobs.",
                             "分布式模式：由队列工作进程运行各阶段，本控制台只跟踪任务。"),
    "app.signed_in_as": ("Signed in as **{username}** ({role})", "已登录：**{username}**（{role}）"),
    "app.sign_out": ("Sign out", "退出登录"),
    "app.no_accounts": ("Accounts are not set up on this factory: anyone who can open this page can use it.",
                        "本工厂尚未启用账户：任何能打开此页面的人都可以使用。"),
    "nav.new_video": ("New video", "新视频"),
    "nav.jobs": ("Jobs", "任务"),
    "nav.review": ("Review", "审核"),
    "nav.health": ("Health", "系统状态"),
    "role.editor": ("editor", "编辑"),
    "role.reviewer": ("reviewer", "审核员"),
    "role.admin": ("admin", "管理员"),
    "login.header": ("Sign in", "登录"),
    "login.username": ("User name", "用户名"),
    "login.password": ("Password", "密码"),
    "login.submit": ("Sign in", "登录"),
    "login.failed": ("Wrong user name or password, or the account is disabled.",
                     "用户名或密码错误，或账户已停用。"),
    "login.expired": ("Your session has ended; sign in again.", "会话已结束，请重新登录。"),
    "login.not_allowed": ("Your role ({role}) cannot open this page.", "您的角色（{role}）无权打开此页面。"),

    # --- job states and stages --------------------------------------------------------------------
    "status.all": ("all", "全部"),
    "status.queued": ("⏳ queued", "⏳ 排队中"),
    "status.running": ("⚙️ running", "⚙️ 运行中"),
    "status.interrupted": ("⏸️ interrupted", "⏸️ 已中断"),
    "status.needs_review": ("🚩 needs review", "🚩 待审核"),
    "status.failed": ("❌ failed", "❌ 失败"),
    "status.dead": ("💀 gave up", "💀 已放弃"),
    "status.cancelled": ("🚫 cancelled", "🚫 已取消"),
    "status.published": ("✅ published", "✅ 已发布"),
    "stage.write": ("write", "撰稿"),
    "stage.speak": ("speak", "配音"),
    "stage.render": ("render", "渲染"),
    "stage.check": ("check", "质检"),
    "stage.publish": ("publish", "发布"),
    "run.waiting": ("waiting", "等待中"),
    "run.not_run": ("not run", "未运行"),
    "run.running": ("running", "运行中"),
    "run.done": ("done", "完成"),
    "run.cached": ("done (cache hit)", "完成（命中缓存）"),
    "run.failed": ("failed", "失败"),
    "run.error": ("crashed", "崩溃"),
    "run.review": ("held for review", "待审核"),
    "run.rerun": ("sent back", "退回重做"),
    "run.interrupted": ("interrupted", "已中断"),
    "run.retried": ("retried", "已重试"),
    "run.in_seconds": ("in {seconds:.1f} s", "用时 {seconds:.1f} 秒"),
    "run.attempt": (", attempt {attempt}", "，第 {attempt} 次尝试"),

    # --- one job: progress and outcome ------------------------------------------------------------
    "job.heading": ("**Job `{job_id}`** — {status}", "**任务 `{job_id}`** — {status}"),
    "job.published": ("Published: {url}", "已发布：{url}"),
    "job.published_plain": ("Published.", "已发布。"),
    "job.failed": ("Failed — {reason}", "失败 — {reason}"),
    "job.dead": ("Gave up after repeated crashes — {reason}", "多次崩溃后已放弃 — {reason}"),
    "job.held": ("Held for an editor's review — {reason}", "等待编辑审核 — {reason}"),
    "job.cancelled": ("Cancelled.", "已取消。"),
    "job.stalled": ("This job was interrupted and nothing is running it now{reason}. Resume it below or on the Jobs page.",
                    "此任务已中断，目前没有进程在运行它{reason}。请在下方或任务页面继续。"),
    "job.video_missing": ("The video file is not available here: {problem}", "此处无法获取视频文件：{problem}"),
    "job.download_mp4": ("Download the MP4", "下载 MP4"),
    "job.download_srt": ("Subtitles (SRT)", "字幕（SRT）"),
    "job.download_vtt": ("Subtitles (VTT)", "字幕（VTT）"),
    "job.qa_header": ("**Quality check** {verdict}", "**质量检查** {verdict}"),
    "job.qa_passed": ("passed ✅", "通过 ✅"),
    "job.qa_failed": ("failed ❌", "未通过 ❌"),
    "job.qa_details": ("QA details", "质检详情"),
    "job.qa_plot": ("Mouth opening against speech energy, frame by frame", "逐帧嘴部开合与语音能量"),
    "job.qa_col_check": ("check", "检查项"),
    # QA checks and numbers (qa.report, qa.av_checks, qa.gate), with their units
    "qa.duration": ("sound and picture end apart (s)", "声音与画面结束时间差（秒）"),
    "qa.fps": ("frames per second", "帧率（帧/秒）"),
    "qa.size": ("size (pixels)", "尺寸（像素）"),
    "qa.face_visible": ("frames showing the face", "有人脸的帧"),
    "qa.no_frozen_picture": ("longest frozen picture (s)", "最长静止画面（秒）"),
    "qa.no_black_frames": ("black frames", "黑帧数"),
    "qa.sound_present": ("loudest speech (dB)", "最大语音响度（dB）"),
    "qa.lip_sync_confidence": ("lip-sync confidence", "口型同步置信度"),
    "qa.lip_sync_offset": ("sound late by (frames)", "声音滞后（帧）"),
    "qa.offset_frames": ("sound late by (frames)", "声音滞后（帧）"),
    "qa.sync_confidence": ("lip-sync confidence", "口型同步置信度"),
    "qa.sync_min_confidence": ("confidence needed", "所需置信度"),
    "qa.sync_z": ("lip-sync evidence (confidence × √frames)", "口型同步证据（置信度 × √帧数）"),
    "qa.wer": ("word error rate", "词错误率"),
    "qa.cer": ("character error rate", "字错误率"),
    "qa.lse_d": ("SyncNet distance (LSE-D)", "SyncNet 距离（LSE-D）"),
    "qa.lse_c": ("SyncNet confidence (LSE-C)", "SyncNet 置信度（LSE-C）"),
    "qa.syncnet_offset_frames": ("SyncNet offset (frames)", "SyncNet 偏移（帧）"),
    "job.qa_col_value": ("value", "数值"),
    "job.qa_col_ok": ("ok", "结果"),
    "job.transcript": ("What Whisper heard", "Whisper 听到的内容"),
    "job.differences": ("Differences from the script ({name} {rate:.1%})", "与稿件的差异（{name} {rate:.1%}）"),
    "job.no_differences": ("Whisper heard the script word for word.", "Whisper 听到的内容与稿件完全一致。"),
    "job.diff_substitute": ("heard “{heard}” instead of “{said}”", "听成“{heard}”，原文“{said}”"),
    "job.diff_delete": ("missing “{said}”", "缺少“{said}”"),
    "job.diff_insert": ("extra “{heard}”", "多出“{heard}”"),
    "job.diff_more": ("… and {count} more differences", "……还有 {count} 处差异"),
    "job.what_it_says": ("What it says", "讲稿内容"),
    "job.stage_runs": ("**Stage runs** — {seconds:.1f} s in all", "**各阶段运行** — 共 {seconds:.1f} 秒"),
    "job.col_stage": ("stage", "阶段"),
    "job.col_attempt": ("attempt", "尝试"),
    "job.col_status": ("status", "状态"),
    "job.col_seconds": ("seconds", "秒"),
    "job.col_worker": ("worker", "工作进程"),
    "job.col_error": ("problem", "问题"),
    "job.full_errors": ("Full error texts", "完整错误信息"),
    "job.parameters": ("Parameters, files and values", "参数、文件与数值"),
    "job.plan": ("Plan: {plan}; created {created} UTC", "流程：{plan}；创建于 {created}（UTC）"),
    "job.batch": ("Batch: `{batch}`", "批次：`{batch}`"),
    "job.models": ("Models and licences", "模型与许可"),
    "job.models_noncommercial": ("Not for commercial use: {names}. Check the licence before publishing this video commercially.",
                                 "不可商用：{names}。商业发布此视频前请先核对许可。"),
    "job.col_role": ("role", "用途"),
    "job.col_model": ("model", "模型"),
    "job.col_licence": ("licence", "许可"),
    "job.col_commercial": ("commercial use", "可商用"),
    "job.col_source": ("source", "来源"),
    "job.review_details": ("Review details", "审核详情"),
    "job.resume": ("Resume", "继续"),
    "job.retry": ("Retry", "重试"),
    "job.cancel": ("Cancel", "取消"),
    "job.approve": ("Approve", "批准"),
    "job.reject": ("Reject", "驳回"),
    "job.reject_reason": ("Reason for rejecting", "驳回理由"),
    "job.rerender": ("Render again with another seed", "换一个随机种子重新渲染"),
    "job.rerendered": ("Rendering again as job {job_id} (seed {seed}).", "已作为任务 {job_id} 重新渲染（种子 {seed}）。"),
    "job.rerender_note": ("Rendered again with seed {seed} as job {job_id}.", "已用种子 {seed} 重新渲染为任务 {job_id}。"),
    "job.rerender_impossible": ("This job cannot be rendered again: its photo or narration is not stored.",
                                "无法重新渲染此任务：未保存其照片或讲稿。"),
    "job.refused": ("{reason}", "{reason}"),
    "job.by": ("by {who}", "操作人 {who}"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),

    # --- new video ----------------------------------------------------------------------------------
    "new.header": ("New video", "新视频"),
    "new.missing_stages": ("Not installed on this machine: the {stages} stage(s). Jobs will stop when they reach them.",
                           "本机未安装以下阶段：{stages}。任务运行到这些阶段时会停止。"),
    "new.portrait": ("Portrait photo (one face, looking at the camera)", "人像照片（一张正脸，看向镜头）"),
    "new.not_an_image": ("{name} does not look like an image (use JPEG, PNG or WebP).",
                         "{name} 看起来不是图片（请使用 JPEG、PNG 或 WebP）。"),
    "new.source": ("What should the portrait say?", "数字人要说什么？"),
    "source.script": ("Script text", "讲稿文本"),
    "source.recording": ("Own recording", "自己的录音"),
    "source.topic": ("Topic (the writer drafts it)", "话题（由撰稿模型起草）"),
    "source.policy": ("Policy document (the writer explains it)", "政策文件（由撰稿模型讲解）"),
    "source.product": ("Product row (the writer pitches it)", "商品信息（由撰稿模型介绍）"),
    "new.writer_missing": ("Topics, policy documents and product rows need the narration writer (an LLM), which is not "
                           "ready on this machine: {detail}. An administrator can install it ({fix}); until then, paste "
                           "a script or upload a recording.",
                           "话题、政策文件和商品信息需要撰稿模型（大语言模型），但本机尚未就绪：{detail}。管理员可以安装它"
                           "（{fix}）；在此之前，请粘贴讲稿或上传录音。"),
    "new.script": ("Script (the exact words to speak)", "讲稿（将逐字朗读）"),
    "new.recording": ("Your recording (any common audio format)", "您的录音（常见音频格式均可）"),
    "new.topic": ("Headline", "标题"),
    "new.summary": ("Summary (optional)", "摘要（可选）"),
    "new.policy_file": ("Policy document ({types})", "政策文件（{types}）"),
    "new.policy_paste": ("…or paste the policy text", "……或粘贴政策文本"),
    "new.policy_read": ("{name}: {chars:,} characters read", "{name}：已读取 {chars:,} 个字符"),
    "new.policy_unreadable": ("{name} could not be read: {problem}", "无法读取 {name}：{problem}"),
    "new.product_name": ("Product name", "商品名称"),
    "new.product_price": ("Price", "价格"),
    "new.product_features": ("Features (one per line)", "卖点（每行一个）"),
    "new.product_promotion": ("Promotion (optional)", "促销信息（可选）"),
    "new.target_seconds": ("Target length (seconds)", "目标时长（秒）"),
    "new.voice": ("Voice", "音色"),
    "new.voice_help": ("The voices installed here that speak the narration's language.", "本机已安装、能说讲稿语言的音色。"),
    "new.voice_default": ("Default ({name})", "默认（{name}）"),
    "new.voice_licence": ("Licence: {licence}", "许可：{licence}"),
    "new.voice_noncommercial": ("{name} is not cleared for commercial use: check its licence before publishing commercially.",
                                "{name} 不可商用：商业发布前请核对其许可。"),
    "new.no_voice": ("No installed voice speaks {language}: an administrator can install one (see the Health page).",
                     "本机没有能说{language}的音色：请管理员安装（见“系统状态”页面）。"),
    "new.voice_sample": ("▶ Hear a sample", "▶ 试听"),
    "new.voice_sampling": ("Speaking a sample…", "正在生成试听……"),
    "new.photo_from": ("Portrait", "人像"),
    "new.photo_upload": ("Upload a photo", "上传照片"),
    "new.photo_library": ("From the avatar library", "从形象库选择"),
    "new.avatar": ("Avatar", "形象"),
    "new.face_found": ("The face that will be animated", "将被驱动的脸部"),
    "new.save_avatar": ("Save this photo to the avatar library", "把这张照片存入形象库"),
    "new.avatar_name": ("Avatar name", "形象名称"),
    "new.check_and_save": ("Check the face and save", "检查脸部并保存"),
    "new.avatar_refused": ("Not saved: {problem}", "未保存：{problem}"),
    "new.avatar_saved": ("Saved as “{name}”: pick it next time instead of uploading.", "已保存为“{name}”：下次可直接选择，无需上传。"),
    "new.language": ("Language", "语言"),
    "new.language_help": ("The narration's language.", "讲稿的语言。"),
    "lang.en": ("English", "英语"),
    "lang.zh": ("Chinese", "中文"),
    "new.render_params": ("Render parameters", "渲染参数"),
    "new.renderer": ("Renderer", "渲染器"),
    "new.renderer_help": ("cpu: the built-in renderer (any machine). sonic: the Sonic diffusion model (GPU and its official weights).",
                          "cpu：内置渲染器（任何机器）。sonic：Sonic 扩散模型（需要 GPU 和官方权重）。"),
    "new.more_options": ("More options", "更多选项"),
    "new.check": ("Quality check (Whisper transcript + lip-sync score) before publishing",
                  "发布前质量检查（Whisper 转写 + 口型同步评分）"),
    "new.batch": ("Batch name (optional, to find the job later)", "批次名称（可选，便于以后查找）"),
    "new.submit": ("Make the video", "生成视频"),
    "new.your_video": ("Your video", "您的视频"),
    "new.write_draft": ("Write the narration", "撰写讲稿"),
    "new.writing": ("The writer is drafting the narration…", "撰稿模型正在起草讲稿……"),
    "new.draft_header": ("Draft narration — read it, edit it, then make the video", "讲稿草稿 — 请阅读、修改，然后生成视频"),
    "new.draft_text": ("Narration (edit freely; this is what will be spoken)", "讲稿（可自由修改；将按此朗读）"),
    "new.draft_estimate": ("About {seconds:.0f} s when spoken (target {target:.0f} s).", "朗读约 {seconds:.0f} 秒（目标 {target:.0f} 秒）。"),
    "new.draft_grounding": ("Not found in the source — check these before rendering: {facts}",
                            "原文中找不到以下内容——渲染前请核对：{facts}"),
    "new.draft_grounded": ("Every number, date and name in the narration is in the source.", "讲稿中的数字、日期和名称均可在原文中找到。"),
    "new.draft_blocked": ("Blocked terms in the draft: {terms}", "草稿中含有禁用词：{terms}"),
    "new.draft_warning": ("Writer's note: {warning}", "撰稿提示：{warning}"),
    "new.draft_failed": ("The writer could not draft a narration: {problem}", "撰稿模型无法起草讲稿：{problem}"),
    "new.draft_discard": ("Discard the draft", "放弃草稿"),
    "new.draft_first": ("Write the narration first, read it, then make the video.", "请先撰写讲稿并阅读，然后再生成视频。"),

    # --- form mistakes (ui/submission.FormError keys) -------------------------------------------------
    "form.no_image": ("Upload a portrait photo first.", "请先上传人像照片。"),
    "form.unknown_source": ("Unknown source {source!r}.", "未知的内容来源 {source!r}。"),
    "form.empty_script": ("The script is empty: write what the portrait should say.", "讲稿为空：请写下数字人要说的话。"),
    "form.no_recording": ("Upload the recording to use.", "请上传要使用的录音。"),
    "form.no_writer": ("The narration writer is not installed on this machine, so topics, policy documents and product "
                       "rows cannot be turned into a script here. Paste a script or upload a recording.",
                       "本机未安装撰稿模型，无法把话题、政策文件或商品信息写成讲稿。请粘贴讲稿或上传录音。"),
    "form.problem": ("{problem}", "{problem}"),  # a sentence the core wrote (a voice, the writer, a parameter)
    "form.script_too_long": ("The script is {chars:,} characters long; the limit is {limit:,}. Shorten it or split it into "
                             "several videos.", "讲稿有 {chars:,} 个字符，上限是 {limit:,}。请删减，或分成几个视频。"),
    "form.bad_language": ("Unsupported language {language!r}.", "不支持的语言 {language!r}。"),

    # --- jobs list ------------------------------------------------------------------------------------
    "jobs.header": ("Jobs", "任务"),
    "jobs.status": ("Status", "状态"),
    "jobs.batch": ("Batch", "批次"),
    "jobs.who": ("Made by", "创建人"),
    "jobs.search": ("Words in the narration", "讲稿中的词语"),
    "jobs.show": ("Show", "显示条数"),
    "jobs.refresh": ("Refresh", "刷新"),
    "jobs.none_match": ("No jobs match.", "没有符合条件的任务。"),
    "jobs.none_yet": ("No jobs yet: make one on the New video page.", "还没有任务：请在“新视频”页面创建。"),
    "jobs.open": ("Open job", "打开任务"),
    "jobs.col_job": ("job", "任务"),
    "jobs.col_picture": ("photo", "照片"),
    "jobs.col_title": ("title", "标题"),
    "jobs.col_status": ("status", "状态"),
    "jobs.col_who": ("by", "创建人"),
    "jobs.col_when": ("created (UTC)", "创建时间（UTC）"),
    "jobs.col_batch": ("batch", "批次"),
    "jobs.col_problem": ("problem", "问题"),
    "jobs.untitled": ("(no narration yet)", "（尚无讲稿）"),

    # --- review queue -----------------------------------------------------------------------------------
    "review.header": ("Review", "审核"),
    "review.empty": ("Nothing waits for review.", "没有待审核的任务。"),
    "review.count": ("{count} job(s) wait for a decision.", "有 {count} 个任务等待决定。"),
    "review.why": ("Why it waits", "等待原因"),
    "review.grounding": ("Facts not found in the source: {facts}", "原文中找不到的内容：{facts}"),
    "review.blocked": ("Blocked terms: {terms}", "禁用词：{terms}"),
    "review.no_video": ("No video yet: it was held before rendering (its narration is below).",
                        "尚无视频：它在渲染前就被挂起（讲稿见下方）。"),
    "review.reviewer_only": ("Only reviewers and admins can approve or reject.", "只有审核员和管理员可以批准或驳回。"),

    # --- batches ------------------------------------------------------------------------------------------
    "nav.batches": ("Batches", "批量"),
    "batch.header": ("Batches", "批量生成"),
    "batch.columns": ("One video per row. Columns: script, or topic (+ summary), or name (+ features, price, promotion) "
                      "for a product; optional: language, seconds, voice.",
                      "每行一个视频。列：script（讲稿），或 topic（+ summary），或商品的 name（+ features、price、promotion）；"
                      "可选：language、seconds、voice。"),
    "batch.file": ("Rows (CSV, XLSX or JSON lines)", "数据行（CSV、XLSX 或 JSON lines）"),
    "batch.portrait": ("Portrait for the rows without their own photo", "没有自带照片的行所用的人像"),
    "batch.unreadable": ("{name} could not be read: {problem}", "无法读取 {name}：{problem}"),
    "batch.empty": ("{name} has no rows.", "{name} 中没有数据行。"),
    "batch.col_row": ("row", "行"),
    "batch.col_name": ("name", "名称"),
    "batch.col_ok": ("ok", "结果"),
    "batch.col_problem": ("problem", "问题"),
    "batch.bad_rows": ("{bad} of {total} rows cannot become videos (see why above); the others can be submitted.",
                       "{total} 行中有 {bad} 行无法生成视频（原因见上表）；其余各行可以提交。"),
    "batch.submit": ("Submit {count} row(s)", "提交 {count} 行"),
    "batch.submitted": ("Batch {batch}: {jobs} job(s) submitted.", "批次 {batch}：已提交 {jobs} 个任务。"),
    "batch.progress": ("Progress", "进度"),
    "batch.open": ("Open a batch by its id", "按编号打开批次"),
    "batch.none": ("No batches yet: upload rows above to start one.", "还没有批次：在上方上传行即可开始。"),
    "batch.unknown": ("There is no batch {batch}.", "没有批次 {batch}。"),
    "batch.line": ("{batch}: {finished} of {total} finished — {counts}", "{batch}：已完成 {finished}/{total} — {counts}"),
    "batch.row_problem": ("Row {row} not submitted: {problem}", "第 {row} 行未提交：{problem}"),
    "batch.make_zip": ("Prepare the ZIP (videos + manifest)", "打包 ZIP（视频 + 清单）"),
    "batch.download_zip": ("Download the ZIP", "下载 ZIP"),

    # --- schedules ------------------------------------------------------------------------------------------
    "nav.schedules": ("Schedules", "定时任务"),
    "sched.header": ("Schedules", "定时任务"),
    "sched.none": ("No schedules yet.", "还没有定时任务。"),
    "sched.col_name": ("name", "名称"),
    "sched.col_source": ("source", "来源"),
    "sched.col_when": ("when (cron)", "时间（cron）"),
    "sched.col_state": ("state", "状态"),
    "sched.col_next": ("next run (UTC)", "下次运行（UTC）"),
    "sched.col_last": ("last run (UTC)", "上次运行（UTC）"),
    "sched.col_problem": ("problem", "问题"),
    "sched.col_started": ("started (UTC)", "开始（UTC）"),
    "sched.col_trigger": ("why", "触发方式"),
    "sched.col_jobs": ("jobs", "任务"),
    "sched.active": ("active", "运行中"),
    "sched.paused": ("paused", "已暂停"),
    "sched.open": ("Open schedule", "打开定时任务"),
    "sched.pause": ("Pause", "暂停"),
    "sched.resume": ("Resume", "恢复"),
    "sched.no_runs": ("It has not run yet.", "尚未运行过。"),
    "sched.last_runs": ("Last runs", "最近运行"),
    "sched.jobs_hint": ("Open a job on the Jobs page (filter by its batch, shown in the job list).",
                        "可在“任务”页面打开这些任务（按批次筛选）。"),
    "sched.new": ("New schedule", "新建定时任务"),
    "sched.needs_avatar": ("A schedule needs a portrait from the avatar library: save one on the New video page first.",
                           "定时任务需要形象库中的人像：请先在“新视频”页面保存一个。"),
    "sched.name": ("Name", "名称"),
    "sched.kind": ("Source", "来源"),
    "sched.kind_feed": ("news feed (RSS/Atom)", "新闻订阅（RSS/Atom）"),
    "sched.kind_topics": ("list of topics", "话题列表"),
    "sched.kind_folder": ("folder of policy documents", "政策文件夹"),
    "sched.kind_products": ("product file", "商品文件"),
    "sched.source_feed": ("Feed address (URL)", "订阅地址（URL）"),
    "sched.source_topics": ("Topics, one headline per line", "话题，每行一个标题"),
    "sched.source_folder": ("Folder on the server", "服务器上的文件夹"),
    "sched.source_products": ("Product file (CSV or XLSX) on the server", "服务器上的商品文件（CSV 或 XLSX）"),
    "sched.cron": ("When (cron: minute hour day month weekday)", "时间（cron：分 时 日 月 星期）"),
    "sched.cron_help": ("0 9 * * 1-5 = at 09:00 from Monday to Friday.", "0 9 * * 1-5 = 周一至周五 09:00。"),
    "sched.timezone": ("Time zone", "时区"),
    "sched.review": ("Hold every video for a reviewer before publishing", "每个视频发布前都需审核"),
    "sched.per_run": ("At most this many videos per run", "每次运行最多生成的视频数"),
    "sched.create": ("Create the schedule", "创建定时任务"),
    "sched.created": ("Schedule “{name}” created; first run {next} UTC.", "已创建定时任务“{name}”；首次运行 {next}（UTC）。"),

    # --- health ---------------------------------------------------------------------------------------------
    "health.header": ("Health", "系统状态"),
    "health.recheck": ("Check again", "重新检查"),
    "health.checks": ("Installed parts and models", "已安装的组件与模型"),
    "health.col_check": ("check", "检查项"),
    "health.col_ok": ("ok", "结果"),
    "health.col_detail": ("detail", "详情"),
    "health.col_fix": ("how to fix", "修复方法"),
    "health.optional": ("(optional)", "（可选）"),
    "health.writer_ok": ("Narration writer: ready ({detail}).", "撰稿模型：就绪（{detail}）。"),
    "health.writer_missing": ("Narration writer: not ready ({detail}). Fix: {fix}", "撰稿模型：未就绪（{detail}）。修复：{fix}"),
    "health.database_ok": ("Job database: reachable ({detail}).", "任务数据库：可连接（{detail}）。"),
    "health.database_down": ("Job database: NOT reachable — {detail}. Fix: {fix}", "任务数据库：无法连接 — {detail}。修复：{fix}"),
    "health.broker_ok": ("Broker: {detail}.", "消息队列：{detail}。"),
    "health.broker_down": ("Broker: NOT reachable — {detail}. Fix: {fix}", "消息队列：无法连接 — {detail}。修复：{fix}"),
    "health.workers": ("Workers alive: {alive} (silent: {silent})", "存活的工作进程：{alive}（无响应：{silent}）"),
    "health.no_workers": ("No worker is alive: queued jobs wait until one starts (factory worker).",
                          "没有存活的工作进程：排队任务将等待工作进程启动（factory worker）。"),
    "health.col_worker": ("worker", "工作进程"),
    "health.col_stages": ("stages", "阶段"),
    "health.col_doing": ("doing", "当前工作"),
    "health.idle": ("idle", "空闲"),
    "health.queues": ("Queue depths", "队列深度"),
    "health.col_queue": ("queue", "队列"),
    "health.col_messages": ("waiting", "等待数"),
    "health.col_consumers": ("consumers", "消费者"),
    "health.embedded": ("Embedded mode: this console runs the stages itself, one job at a time. Jobs waiting: {queued}; running: {running}.",
                        "嵌入模式：本控制台自己逐个运行任务。等待中：{queued}；运行中：{running}。"),
    "health.stuck": ("Jobs stuck past their stage's time limit: {count}", "超过阶段时限仍未完成的任务：{count}"),
    "health.status_failed": ("The queue status could not be read: {problem}", "无法读取队列状态：{problem}"),
}

PARAM_LABELS: dict[str, tuple[str, str, str]] = {
    "min_resolution": ("Min resolution", "最小分辨率", "输出脸部裁剪的短边像素（CPU 默认 512，Sonic 默认 1024）。"),
    "expand_ratio": ("Expand ratio", "扩展比例", "裁剪框在检测到的脸部框外每边扩展的比例。"),
    "inference_steps": ("Inference steps", "推理步数", "扩散步数（仅 Sonic；CPU 渲染器忽略）。"),
    "dynamic_scale": ("Dynamic scale", "表情幅度", "嘴部与表情动作的强度。"),
    "motion_scale": ("Motion scale", "头部动作幅度", "头部动作的强度。"),
    "seed": ("Seed", "随机种子", "眨眼、头部动作和扩散噪声的随机种子。"),
    "keep_crop": ("Keep crop", "只输出脸部裁剪", "输出方形脸部裁剪，而不是贴回整张照片。"),
}
"""The render parameters' labels in English and Chinese, and their help in Chinese (the English
help is the render stage's own declaration, ``ParamSpec.help``)."""


def translate(key: str, language: str, **values: object) -> str:
    """The message ``key`` in ``language`` with its placeholders filled. An unknown key is a
    bug in the console; it is shown as the key itself rather than breaking the page."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if language == "zh" else pair[0]
    return text.format(**values) if values else text


@dataclass(frozen=True)
class Texts:
    """The console's words in one language: ``tr = Texts("en"); tr("nav.jobs")``."""

    language: str = DEFAULT_LANGUAGE

    def __call__(self, key: str, **values: object) -> str:
        return translate(key, self.language, **values)

    def param_label(self, name: str) -> str:
        entry = PARAM_LABELS.get(name)
        if entry is None:
            return name.replace("_", " ").capitalize()
        return entry[1] if self.language == "zh" else entry[0]

    def param_help(self, name: str, english: str) -> str:
        """The parameter's help: the stage's own English sentence, or its Chinese one."""
        entry = PARAM_LABELS.get(name)
        return entry[2] if entry is not None and self.language == "zh" else english

    def status(self, status: str) -> str:
        return self(f"status.{status}") if f"status.{status}" in MESSAGES else status

    def qa_check(self, name: str) -> str:
        """A QA check's or number's name, with its unit (``qa.report`` names them in English)."""
        return self(f"qa.{name}") if f"qa.{name}" in MESSAGES else name.replace("_", " ")

    def stage(self, stage: str) -> str:
        return self(f"stage.{stage}") if f"stage.{stage}" in MESSAGES else stage
