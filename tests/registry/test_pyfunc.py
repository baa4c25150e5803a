"""The pyfunc flavour: `mlflow.pyfunc.load_model("models:/<name>@<alias>")` answers like the
Assistant it wraps."""

from __future__ import annotations

import base64

import pandas as pd
import pytest

from ichigo.errors import InputError
from ichigo.registry.pyfunc import IchigoPyfunc
from tests.registry.conftest import make_lineage


class Echo:
    def respond_text(self, text):
        return f"text:{text}"

    def respond_audio(self, wav):
        return f"audio:{len(wav)}"


def _model():
    m = IchigoPyfunc()
    m.assistant = Echo()  # request routing only; the real Assistant is exercised below
    return m


def test_rows_are_routed_by_kind():
    m = _model()
    b64 = base64.b64encode(b"RIFF1234").decode()
    df = pd.DataFrame({"text": ["hi", None], "audio_b64": [None, b64]})
    assert m.predict(None, df) == ["text:hi", "audio:8"]
    assert m.predict(None, ["hello", {"audio_b64": b64}]) == ["text:hello", "audio:8"]
    assert m.predict(None, {"text": ["a", "b"]}) == ["text:a", "text:b"]


@pytest.mark.parametrize("rows,msg", [
    ([{"text": "a", "audio_b64": "UklGRg=="}], "exactly one"),
    ([{}], "exactly one"),
    ([{"audio_b64": "not base64!"}], "not valid base64"),
])
def test_bad_requests_say_what_to_fix(rows, msg):
    with pytest.raises(InputError, match=msg):
        _model().predict(None, rows)


def test_the_profile_comes_from_the_logged_model_config(monkeypatch):
    from types import SimpleNamespace

    from ichigo.assistant import Assistant
    from ichigo.registry.pyfunc import PACKAGE_ARTIFACT

    seen = []
    monkeypatch.setattr(Assistant, "load", classmethod(lambda cls, pkg, profile, with_tts: seen.append(profile.name)))
    IchigoPyfunc().load_context(SimpleNamespace(artifacts={PACKAGE_ARTIFACT: "/p"}, model_config={"profile": "smoke"}))
    # a version pickled before models from code carries its profile on the object itself
    IchigoPyfunc("small").load_context(SimpleNamespace(artifacts={PACKAGE_ARTIFACT: "/p"}, model_config=None))
    assert seen == ["smoke", "small"]


@pytest.mark.services
@pytest.mark.slow
def test_registered_model_loads_as_pyfunc_and_answers(registry, tiny_package, gate_report):
    import mlflow.pyfunc

    from ichigo.assistant import Assistant
    from ichigo.audio import wav_bytes
    from ichigo.config import load_profile
    from ichigo.registry import register_candidate
    from ichigo.tts import EspeakTTS

    register_candidate(registry, tiny_package, {"wer": 0.3}, make_lineage("pyfunc-run"), [gate_report])
    model = mlflow.pyfunc.load_model(f"models:/{registry.model_name}@challenger")
    # logged from code with a signature and an input example: no pickled object in the registry
    assert model.metadata.flavors["python_function"]["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert model.metadata.saved_input_example_info["type"] == "json_object"
    assert model.metadata.get_input_schema().input_names() == ["text", "audio_b64"]
    wav = wav_bytes(EspeakTTS().synthesize(["What is the capital of France?"], "en-us")[0])
    df = pd.DataFrame({"text": ["How many legs does a spider have?", None],
                       "audio_b64": [None, base64.b64encode(wav).decode()]})
    answers = list(model.predict(df))
    direct = Assistant.load(tiny_package, load_profile("local"), with_tts=False)
    assert answers == [direct.respond_text("How many legs does a spider have?"), direct.respond_audio(wav)]
    assert all(a.strip() for a in answers)
