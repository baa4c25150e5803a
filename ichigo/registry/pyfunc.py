"""The MLflow pyfunc flavour of a packaged model: `mlflow.pyfunc.load_model("models:/name@alias")`
answers text or base64 audio requests with `ichigo.assistant.Assistant`.

Requests are a DataFrame (or list of dicts / strings) with a `text` or an `audio_b64` column
(base64 WAV bytes); the answer is one string per row.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow.pyfunc
import pandas as pd

from ichigo.errors import InputError
from ichigo.registry.resolve import PACKAGE_ARTIFACT

# the file MLflow logs as the model (models from code): see pyfunc_model.py
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")


def _rows(model_input: Any) -> list[dict[str, Any]]:
    if isinstance(model_input, pd.DataFrame):
        return model_input.to_dict(orient="records")
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

    The packaged profile whose serving settings (engine, limits) apply: the logged model_config's
    `profile`, else `profile` (versions registered before models from code pickled it here)."""

    def __init__(self, profile: str = "local"):
        self.profile = profile

    def load_context(self, context: Any) -> None:
        from ichigo.assistant import Assistant
        from ichigo.config import load_profile

        profile = (getattr(context, "model_config", None) or {}).get("profile", self.profile)
        self.assistant = Assistant.load(context.artifacts[PACKAGE_ARTIFACT], load_profile(profile),
                                        with_tts=False)

    # a DataFrame: the signature's columns make MLflow hand every request over as one, and MLflow
    # infers no schema from this hint (the row checks below say more than its hint schemas can).
    # Direct callers may also pass a list of rows, a dict of columns or a string (_rows).
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> list[str]:
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


def _save_unchecked(validate_serving_input: bool = True, **kwargs: Any) -> None:
    mlflow.pyfunc.save_model(**kwargs)


# mlflow.pyfunc as `mlflow.models.Model.log`'s flavor (any module with save_model), so that the
# register step can log an input example without MLflow's serving check of it: Model.log would
# load the model to answer the example, i.e. the whole LLM (vLLM on the cluster) in the register
# step, for a package the pipeline has just evaluated. Model.log reads `validate_serving_input`
# and hands it on to the flavor, whose save_model (pyfunc's) refuses it: it stops here.
UNCHECKED_PYFUNC = SimpleNamespace(__name__="mlflow.pyfunc", save_model=_save_unchecked)


def input_example() -> list[dict[str, str]]:
    """One text request, logged beside the signature as the model's documented input. Rows, not a
    DataFrame: MLflow's DataFrame example writer trips a pandas deprecation (column index == range)."""
    return [{"text": "What is the capital of France?"}]


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "text", required=False),
                       ColSpec("string", "audio_b64", required=False)]),
        outputs=Schema([ColSpec("string")]),
    )
