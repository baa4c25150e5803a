# The two commands of the README. Each sets up everything it needs first (idempotent).
.PHONY: run test bootstrap compile bench clean

bootstrap:
	@bash scripts/bootstrap.sh

## make run: the whole pipeline end to end on the embedded CPU profile (ichigo run)
run: bootstrap
	.venv/bin/ichigo run $(ARGS)

## make test: the full test suite, as CI runs it (slow, service and browser tests included)
test: bootstrap
	.venv/bin/python -m pytest $(ARGS)

compile: bootstrap
	.venv/bin/ichigo compile

## make bench: the speed targets (each prints a table against a baseline measured in the same run)
bench: bootstrap
	.venv/bin/python benchmarks/bench_data.py
	.venv/bin/python benchmarks/bench_training.py
	.venv/bin/python benchmarks/bench_eval.py
	.venv/bin/python benchmarks/bench_serving.py
	.venv/bin/python benchmarks/bench_tokens.py
	.venv/bin/python benchmarks/bench_voices.py
	.venv/bin/python benchmarks/bench_cascade.py
	.venv/bin/python benchmarks/bench_realtime.py
	.venv/bin/python benchmarks/bench_hostile_audio.py

clean:
	rm -rf runs .pytest_cache
