# Two commands: `sudo make lesson1` (any lessonN) and `sudo make test`.
# Both run the idempotent set-up first; a second run skips what is done.
PYTHON := .venv/bin/python
ARGS ?=

.PHONY: setup setup-test setup-notebook setup-bench test doctor bench notebook notebooks translations

setup:
	@bash scripts/setup.sh

# make kernels, make test-kernels: the live lessons in VMs on Debian kernels that have kprobes
include scripts/kernels.mk
include scripts/distros.mk

# sudo make lesson3 ARGS="--duration 10 --json"
lesson%: setup
	@$(PYTHON) -m runner lesson$* $(ARGS)

doctor: setup
	@$(PYTHON) -m runner doctor

setup-test:
	@bash scripts/setup.sh --test

setup-notebook:
	@bash scripts/setup.sh --notebook

setup-bench:
	@bash scripts/setup.sh --bench

# the VM tests (marker vm) run in make test-kernels, the distribution harness's own (distros) in make test-distros
test: setup-test
	$(PYTHON) -m pytest -m "not vm and not distros" $(ARGS)

# JupyterLab on 127.0.0.1 with a token, on the lessons' notebooks
notebook: setup-notebook
	@$(PYTHON) -m runner notebook $(ARGS)

# rebuild notebooks/ from the lessons' READMEs (after editing a README)
notebooks: setup
	$(PYTHON) notebooks/build.py

# after marking a message _("...") or changing lessons.toml's sentences: extract the messages into each
# runner/locale/*/LC_MESSAGES/bcc-lessons.po (new ones untranslated: a test fails until they are) and compile the .mo
translations: setup-test
	$(PYTHON) scripts/translations.py

# runner start-up, the event pipeline, event throughput and the cost of each tracing mechanism (about 8 min);
# writes bench/results.md and bench/results.png
bench: setup-bench
	$(PYTHON) -m bench $(ARGS)
