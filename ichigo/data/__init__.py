"""Data: source readers, the embedded world written as datasets, TTS + speech tokenization, and the
three stage mixes. Builds on ichigo.world, ichigo.records and ichigo.prompts; model, training and
tokenizer code never import it (tests/core/test_import_graph.py)."""
