# Two commands: `sudo make lesson1` (any lessonN) and `sudo make test`.
# Both run the idempotent set-up first; a second run skips what is done.
PYTHON := .venv/bin/python
ARGS ?=

.PHONY: setup test doctor

setup:
	@bash scripts/setup.sh

# sudo make lesson3 ARGS="--duration 10 --json"
lesson%: setup
	@$(PYTHON) -m runner lesson$* $(ARGS)

doctor: setup
	@$(PYTHON) -m runner doctor

test: setup
	$(PYTHON) -m pytest $(ARGS)
