"""Data: the embedded world corpus, TTS + speech tokenization, and the three stage mixes."""
