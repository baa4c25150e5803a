"""Per-step settings: each pipeline step receives only the profile settings it reads.

A KFP backend caches a task on its inputs. Were every step given the whole profile, changing one
eval threshold would change every task's inputs and retrain all three stages. `step_view` cuts a
validated profile down to one view (a JSON string: the step's pipeline parameter, and its local
step cache config), and `step_profile` rebuilds a Profile from it inside the step. Settings the
view does not carry are `Unsent`: reading one raises a ConfigError naming it, so a step that starts
reading a new setting fails loudly in its tests instead of silently running on a default.

A view lists what its step reads: a section name maps to WHOLE (the section, validated as a
whole) or to a nested selection of its fields (each validated on its own; the cross-field rules
ran when the profile was loaded). `training.stages` selects stages by name.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Mapping, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from ichigo.config.profile import Profile
from ichigo.config.recipe import STAGES
from ichigo.config.sections import EVAL_THRESHOLDS, ClusterConfig, DataConfig, EvalConfig, TrainingConfig
from ichigo.errors import ConfigError

WHOLE = None
Selection = Mapping[str, Union["Selection", None]]

# what the stage plan reads of each stage (ichigo.data.stage_plan.stage_budget): the stage
# datasets step plans every stage, and must not depend on, say, stage 3's learning rate
PLAN_FIELDS = ("steps", "global_batch", "per_device_batch", "grad_accum", "pack", "max_seq_len",
               "warmup_steps", "budget")
_LAUNCH = {f: WHOLE for f in TrainingConfig.model_fields if f != "stages"}
_DEVICE = {"device": WHOLE, "dtype": WHOLE}  # the eval steps load models where training ran
_EVAL_RESULTS = {f: WHOLE for f in EvalConfig.model_fields if f not in EVAL_THRESHOLDS}
_TRACKING = {f: WHOLE for f in ("tracking_uri", "artifact_location", "s3_endpoint_url", "experiment")}
# what a TrainJob reads of the cluster (ichigo.training.backends.trainjob)
_TRAINJOB = {f: WHOLE for f in ClusterConfig.model_fields if f not in ("kfp_host", "storage_uri")}

VIEWS: dict[str, Selection] = {
    # training.dtype: the embedded base pre-trains in bf16 where the stages would
    "prepare_model": {"base_model": WHOLE, "training": {"dtype": WHOLE}},
    # synthesize_speech (each share) and merge_speech_corpus; what the inaudible rows hold is
    # decided when the stage datasets are built, after the speech exists
    "speech_corpus": {"data": {f: WHOLE for f in DataConfig.model_fields if f != "inaudible_sources"},
                      "tts": WHOLE},
    # fit_speech_tokenizer and tokenize_speech
    "speech_tokenizer": {"speech_tokenizer": WHOLE},
    "stage_datasets": {"data": WHOLE, "tts": {"heldout_families": WHOLE}, "base_model": {"kind": WHOLE},
                       "training": {"nodes": WHOLE, "procs_per_node": WHOLE,
                                    "stages": {s: {f: WHOLE for f in PLAN_FIELDS} for s in STAGES}}},
    # one stage: its own settings and the launch; earlier stages reach it as the model artifact
    **{f"train_{s}": {"training": {**_LAUNCH, "stages": {s: WHOLE}}, "cluster": _TRAINJOB,
                      "registry": _TRACKING} for s in STAGES},
    # no thresholds: the eval's results do not depend on them, only the gate's verdict does
    "evaluate_text": {"eval": _EVAL_RESULTS, "training": _DEVICE},
    "evaluate": {"eval": _EVAL_RESULTS, "training": _DEVICE, "speech_tokenizer": WHOLE, "tts": WHOLE},
    "gate": {"eval": {f: WHOLE for f in EVAL_THRESHOLDS}, "registry": WHOLE},
    # the lineage records every stage's settings and the profile's name
    "register": {"name": WHOLE, "training": {"stages": WHOLE}, "registry": WHOLE},
}


class Unsent:
    """A setting the step's view does not carry. Using it is a bug in the view: it raises,
    naming the setting, instead of letting the step run on a stand-in."""

    __slots__ = ("view", "path")

    def __init__(self, view: str, path: str):
        self.view, self.path = view, path

    def _fail(self, *_args: Any, **_kwargs: Any) -> Any:
        raise ConfigError(f"{self.path} is not among the settings of step view {self.view!r}: add it "
                          "to VIEWS in ichigo/config/steps.py if the step reads it")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # pickle and copy probe for optional protocol methods
            raise AttributeError(name)
        return self._fail()

    def __repr__(self) -> str:
        return f"<{self.path}: not in step view {self.view!r}>"

    def __reduce__(self):
        return Unsent, (self.view, self.path)

    __bool__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _fail
    __iter__ = __len__ = __contains__ = __getitem__ = __call__ = _fail
    __str__ = __format__ = __float__ = __int__ = __index__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _fail


class SomeStages(dict):
    """`training.stages` with only the stages a view carries: another stage raises, naming it."""

    def __init__(self, items: Mapping[str, Any], view: str, path: str):
        super().__init__(items)
        self.view, self.path = view, path

    def __missing__(self, key: str) -> Any:
        return Unsent(self.view, f"{self.path}.{key}")._fail()

    def __reduce__(self):
        return SomeStages, (dict(self), self.view, self.path)


def view_names() -> list[str]:
    return list(VIEWS)


def _selection(view: str) -> Selection:
    if view not in VIEWS:
        raise ConfigError(f"unknown step view {view!r}: one of {', '.join(VIEWS)}")
    return VIEWS[view]


def _pick(obj: Any, sel: Selection) -> dict:
    """The selected part of a section (or of `training.stages`), dumped field by field: a
    profile rebuilt from a view dumps its own view again without touching what it lacks."""
    out: dict[str, Any] = {}
    for key, sub in sel.items():
        if isinstance(obj, BaseModel):
            # a stage setting left to the recipe's default is left out of the dump, and stays out
            out.update(obj.model_dump(mode="json", include={key}) if sub is WHOLE else {key: _pick(getattr(obj, key), sub)})
        elif key in obj:
            out[key] = obj[key].model_dump(mode="json") if sub is WHOLE else _pick(obj[key], sub)
    return out


def step_view(profile: Profile, view: str) -> str:
    """The settings of `view` as canonical JSON: equal settings give the identical string."""
    settings = _pick(profile, _selection(view))
    return json.dumps({"view": view, "settings": settings}, sort_keys=True, separators=(",", ":"))


def _errors(e: ValidationError, view: str, where: str) -> ConfigError:
    lines = [f"invalid settings for step view {view!r}:"]
    for err in e.errors():
        loc = ".".join([*([where] if where else []), *(str(p) for p in err["loc"])])
        lines.append(f"  - {loc or '<root>'}: {err['msg']}")
    return ConfigError("\n".join(lines))


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _rebuild(cls: type[BaseModel], raw: Any, sel: Selection | None, view: str, where: str) -> BaseModel:
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid settings for step view {view!r}: {where or '<root>'} must be a mapping")
    if sel is WHOLE:
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise _errors(e, view, where) from None
    extra = set(raw) - set(sel)
    if extra:
        raise ConfigError(f"invalid settings for step view {view!r}: {where or '<root>'} carries "
                          f"{sorted(extra)}, which the view does not select")
    values: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        path = f"{where}.{name}" if where else name
        if name not in sel:
            values[name] = Unsent(view, path)
        elif name not in raw:  # left out of the dump because it holds the default
            if field.is_required():
                raise ConfigError(f"invalid settings for step view {view!r}: {path} is missing")
            values[name] = field.get_default(call_default_factory=True)
        elif sel[name] is WHOLE:
            try:
                tp = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
                values[name] = TypeAdapter(tp).validate_python(raw[name])
            except ValidationError as e:
                raise _errors(e, view, path) from None
        elif _is_model(field.annotation):
            values[name] = _rebuild(field.annotation, raw[name], sel[name], view, path)
        elif get_origin(field.annotation) is dict and _is_model(get_args(field.annotation)[1]):
            values[name] = _some(get_args(field.annotation), raw[name], sel[name], view, path)
        else:
            raise ConfigError(f"step view {view!r} selects fields inside {path}, which has none")
    return cls.model_construct(**values)


def _some(types: tuple, raw: Any, sel: Selection, view: str, where: str) -> SomeStages:
    key_type, value_type = types
    if not isinstance(raw, dict) or set(raw) - set(sel):
        raise ConfigError(f"invalid settings for step view {view!r}: {where} must hold only {sorted(sel)}")
    keys = TypeAdapter(list[key_type])
    try:
        keys.validate_python(list(sel))
    except ValidationError as e:
        raise _errors(e, view, where) from None
    return SomeStages({k: _rebuild(value_type, raw[k], s, view, f"{where}.{k}") for k, s in sel.items() if k in raw},
                      view, where)


def step_profile(settings: str, view: str) -> Profile:
    """The Profile a step runs with, from the settings its pipeline parameter carries; `view`
    is the one the step expects (a wiring mistake is an error, not a silently wrong step)."""
    sel = _selection(view)
    try:
        doc = json.loads(settings)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"settings for step view {view!r} are not JSON: {e}") from None
    if not isinstance(doc, dict) or set(doc) != {"view", "settings"}:
        raise ConfigError(f"settings for step view {view!r} must be a step_view() document "
                          "({\"view\": ..., \"settings\": ...})")
    if doc["view"] != view:
        raise ConfigError(f"this step reads view {view!r} but was given the settings of {doc['view']!r}")
    return _rebuild(Profile, doc["settings"], sel, view, "")
