"""Ray Serve application: SpeechTokenizer -> LLM -> TTS behind a FastAPI Ingress.

`serving.app:build_app({"profile": ..., "model_uri": ...})` is what `serve run`, KubeRay's
serveConfigV2 and `serving.cli` (the `ichigo serve` command) all use.
"""
