"""The editors' console (Streamlit): sign in, make videos, follow and review them, in Chinese or English.

    factory ui                    # or: streamlit run ui/server.py

Files:

* ``server.py``         the web server: an ``st.App`` around ``app.py`` that serves media only to
                        signed-in browsers (a session cookie set at sign-in);
* ``app.py``            the Streamlit page script: settings, the shared service, sign-in, navigation;
* ``visit.py``          one browser session: the signed-in user, the language, the sign-in form;
* ``i18n.py``           every word the console shows, in English and Chinese (no Streamlit);
* ``pages.py``          the pages and the role each needs;
* ``new_video_page.py`` photo (or library avatar) + what to say (with the writer's draft step) +
                        voice + render parameters → a job;
* ``jobs_page.py``      the job list with filters, and one job's details;
* ``review_page.py``    jobs held for a person: why, the player, approve / reject / render again;
* ``batches_page.py``   a CSV/XLSX of rows → checked rows → jobs → progress → ZIP;
* ``schedules_page.py`` schedules: list, create, pause, last runs;
* ``health_page.py``    writer, models, database, broker, workers, queues;
* ``job_widgets.py``    what the pages show for one job (progress, video, QA, models, buttons);
* ``job_details.py``    plain-Python helpers behind those widgets (no Streamlit, easy to test);
* ``submission.py``     the New video form's rules, drafts and ``JobService.submit`` arguments;
* ``library.py``        the voice and avatar libraries as the pickers need them;
* ``render_params.py``  the render parameters' ranges and defaults, as sliders need them;
* ``console.py``        what all pages share: the service and its dispatcher with live progress;
* ``cli.py``            the ``factory ui`` click command (and Streamlit's options for editors).

``docs/console.md`` is the user's guide.
"""
