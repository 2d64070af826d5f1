"""The editors' console (Streamlit): make a video, follow it, look through past jobs.

    factory ui                    # or: streamlit run ui/app.py

Files:

* ``app.py``            the Streamlit entry point: settings, the shared service, navigation;
* ``new_video_page.py`` page 1 — photo + what to say + voice + render parameters → a job;
* ``jobs_page.py``      page 2 — the job list with filters and one job's details;
* ``job_widgets.py``    what both pages show for one job (live stage progress, video, errors);
* ``job_details.py``    plain-Python helpers behind those widgets (no Streamlit, easy to test);
* ``submission.py``     turns the form's values into ``JobService.submit`` arguments;
* ``render_params.py``  the render parameters' ranges and defaults, as sliders need them;
* ``console.py``        what all pages share: the service and its dispatcher
                        (``factory.dispatch``) with live progress;
* ``cli.py``            the ``factory ui`` click command.

Only ``app.py`` and the ``*_page.py`` / ``job_widgets.py`` modules import Streamlit.
"""
