# Two commands: `sudo make lesson1` (any lessonN) and `sudo make test`.
# Both run the idempotent set-up first; a second run skips what is done.
PYTHON := .venv/bin/python
ARGS ?=

.PHONY: setup test doctor bench

setup:
	@bash scripts/setup.sh

# sudo make lesson3 ARGS="--duration 10 --json"
lesson%: setup
	@$(PYTHON) -m runner lesson$* $(ARGS)

doctor: setup
	@$(PYTHON) -m runner doctor

test: setup
	$(PYTHON) -m pytest $(ARGS)

# runner start-up, event throughput and the cost of each tracing mechanism (about 2 min);
# writes bench/results.md and bench/results.png
bench: setup
	$(PYTHON) -m bench $(ARGS)
