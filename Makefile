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

bench: bootstrap
	for b in benchmarks/bench_*.py; do .venv/bin/python $$b || exit 1; done

clean:
	rm -rf runs .pytest_cache
