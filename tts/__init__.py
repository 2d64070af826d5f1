"""Speech: text normalisation, the engine interface, Piper (default), and the "speak" stage.

    from tts.engine import load_engine
    speech = load_engine().synthesize("Hello there.")   # Speech: samples, rate, phonemes, words

Files: ``normalize.py`` / ``numbers.py`` (what is said), ``engine.py`` (interface, sentence
pipeline, voice choice), ``piper_engine.py`` (the Piper model), ``loudness.py`` (levels,
silence), ``stage.py`` (the pipeline stage).
"""
