# Two commands do everything: `make run` and `make test`. Each sets up .venv on a
# fresh machine first (runtime + conversion extra + dev tools), then runs.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: run test setup train-mini bench bench-sd bench-speed bench-import bench-fewstep bench-engine bench-guidance parity-sd parity-sd2 lint package clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[convert,dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/parasight

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -ra
	$(BIN)/lint-imports

train-mini: $(STAMP)
	$(BIN)/python -m training.train_mini

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py

bench-sd: $(STAMP)
	$(BIN)/python benchmarks/bench_sd.py

# Against keras-cv and diffusers (PyTorch CPU); diffusers lives in .cache/ref-venv, never in .venv.
bench-speed: $(STAMP)
	bash benchmarks/ref_env.sh && $(BIN)/python benchmarks/bench_speed.py

# Importing full-size SD 1.x/2.x checkpoints (every process's peak), then few-step speed
# with TAESD beside diffusers (PyTorch CPU, in .cache/ref-venv). Results in docs/BENCHMARKS.md.
bench-import: $(STAMP)
	bash benchmarks/ref_env.sh && $(BIN)/python benchmarks/bench_import.py

bench-fewstep: $(STAMP)
	bash benchmarks/ref_env.sh && $(BIN)/python benchmarks/bench_fewstep.py

# The app's LiteRT engine beside OpenVINO (its own venv .cache/ov-venv, never .venv) on the
# same random full-size SD 1.5 weights, calls interleaved; results in docs/BENCHMARKS.md.
bench-engine: $(STAMP)
	bash benchmarks/ov_env.sh && $(BIN)/python benchmarks/bench_engine.py

# One step's two guidance passes on the full-size UNet: one after the other (as shipped),
# side by side on a thread each, or as one batch-2 call; results in docs/BENCHMARKS.md.
bench-guidance: $(STAMP)
	$(BIN)/python benchmarks/bench_guidance.py

# Stable Diffusion v1.4 at full size against KerasCV's own pipeline
# (tests/engine/test_sd_parity.py): a full-size conversion (12 to 16 minutes, 8 GB under
# .cache/sd-parity), kept out of `make test` for its time; result in docs/BENCHMARKS.md.
parity-sd: $(STAMP)
	PARASIGHT_SD_PARITY=1 QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -s -ra \
		tests/engine/test_sd_parity.py -k keras_cv_generate_image
	$(BIN)/python benchmarks/report_parity.py

# The SD 2.x import against diffusers (tests/engine/test_import_parity.py): a second
# full-size conversion, kept out of `make test` for its time; result in docs/BENCHMARKS.md.
parity-sd2: $(STAMP)
	PARASIGHT_SD2_PARITY=1 QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -s -ra \
		tests/engine/test_import_parity.py -k sd2

lint: $(STAMP)
	$(BIN)/ruff check parasight_desktop tests training benchmarks
	$(BIN)/mypy parasight_desktop/engine parasight_desktop/library

# The one-folder bundle dist/ParaSight-<version>/ (PyInstaller, in its own venv
# packaging/.venv-build with the runtime dependencies only). See packaging/README.md.
package:
	PY=$(PY) bash packaging/build.sh

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache
