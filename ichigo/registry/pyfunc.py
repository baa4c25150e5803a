"""The MLflow pyfunc flavour of a packaged model: `mlflow.pyfunc.load_model("models:/name@alias")`
answers text or base64 audio requests with `ichigo.assistant.Assistant`.

Requests are a DataFrame (or list of dicts / strings) with a `text` or an `audio_b64` column
(base64 WAV bytes); the answer is one string per row.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import mlflow.pyfunc

from ichigo.errors import InputError
from ichigo.registry.resolve import PACKAGE_ARTIFACT


def _rows(model_input: Any) -> list[dict[str, Any]]:
    try:
        import pandas as pd

        if isinstance(model_input, pd.DataFrame):
            return model_input.to_dict(orient="records")
    except ImportError:  # pragma: no cover - pandas ships with mlflow
        pass
    if isinstance(model_input, dict):
        keys = list(model_input)
        n = len(model_input[keys[0]]) if keys and isinstance(model_input[keys[0]], list) else None
        if n is None:
            return [model_input]
        return [{k: model_input[k][i] for k in keys} for i in range(n)]
    if isinstance(model_input, str):
        return [{"text": model_input}]
    if isinstance(model_input, list):
        return [{"text": r} if isinstance(r, str) else dict(r) for r in model_input]
    raise InputError(f"unsupported request type {type(model_input).__name__}: send a DataFrame or "
                     "a list of {'text': ...} / {'audio_b64': ...} rows")


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and v != v) and v != ""  # NaN from DataFrames


class IchigoPyfunc(mlflow.pyfunc.PythonModel):
    """Loads the package into an Assistant once (text answers: no TTS); `predict` answers rows.

    `profile` names the packaged profile whose serving settings (engine, limits) apply."""

    def __init__(self, profile: str = "local"):
        self.profile = profile

    def load_context(self, context: Any) -> None:
        from ichigo.assistant import Assistant
        from ichigo.config import load_profile

        self.assistant = Assistant.load(context.artifacts[PACKAGE_ARTIFACT], load_profile(self.profile),
                                        with_tts=False)

    # no type hints: the row checks below (text xor audio_b64) are more than MLflow's hint schemas say
    def predict(self, context, model_input, params=None):
        out = []
        for i, row in enumerate(_rows(model_input)):
            text, audio = row.get("text"), row.get("audio_b64")
            if _present(text) == _present(audio):
                raise InputError(f"request row {i}: give exactly one of 'text' or 'audio_b64'")
            if _present(text):
                out.append(self.assistant.respond_text(str(text)))
                continue
            try:
                wav = base64.b64decode(audio, validate=True)
            except (binascii.Error, TypeError, ValueError) as e:
                raise InputError(f"request row {i}: 'audio_b64' is not valid base64 ({e})") from None
            out.append(self.assistant.respond_audio(wav))
        return out


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "text", required=False),
                       ColSpec("string", "audio_b64", required=False)]),
        outputs=Schema([ColSpec("string")]),
    )
