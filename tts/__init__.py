"""Speech: text normalisation, the engine interface, the voice library and the "speak" stage.

    from tts.engine import load_engine
    speech = load_engine().synthesize("Hello there.")   # Speech: samples, rate, phonemes, words

Files: ``normalize.py`` / ``numbers.py`` (what is said), ``engine.py`` (interface, sentence
pipeline, engine choice), ``voices.py`` (the voice library: names, languages, licences),
``piper_engine.py`` (Piper voices), ``mandarin_engine.py`` (the bundled Mandarin voice),
``coqui_engine.py`` + ``coqui_worker.py`` (users' Coqui weights, spoken in Coqui's own environment),
``loudness.py`` (levels, silence), ``stage.py`` (the pipeline stage), ``cli.py`` (``factory voices``).
"""
