"""The KFP pipeline, its compile/submit/local-run entry points and the `ichigo` CLI."""
