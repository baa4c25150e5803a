import pytest

from ichigo.config import load_profile, parse_overrides, profile_names, with_workdir
from ichigo.errors import ConfigError


def test_packaged_profiles_load():
    assert {"local", "h100"} <= set(profile_names())
    assert load_profile("local").kind == "embedded"


def test_h100_profile_carries_the_papers_hyperparameters():
    st = load_profile("h100").training.stages
    table = {"stage1": (8064, 480, 2e-4, 50, 512), "stage2": (7400, 256, 7e-5, 73, 4096),
             "stage3": (644, 256, 1.5e-5, 8, 4096)}
    for name, (steps, gb, lr, warm, maxlen) in table.items():
        s = st[name]
        assert (s.steps, s.global_batch, s.lr, s.warmup_steps, s.max_seq_len) == (steps, gb, lr, warm, maxlen)
        assert s.weight_decay == 0.005


@pytest.mark.parametrize("override,field", [
    ({"training": {"stages": {"stage2": {"global_batch": 300}}}}, "global_batch"),
    ({"training": {"stages": {"stage1": {"lr": -1}}}}, "training.stages.stage1.lr"),
    ({"data": {"stage2_mix": {"speech_qa": 0.5, "transcription": 0.2, "text": 0.1}}}, "stage2_mix"),
    ({"data": {"stage3_mix": {"speech_qa": 0.1}}}, "stage3_mix"),  # unknown key
    ({"data": {"stage3_mix": {"two_turn": 0.6, "four_turn": 0.1, "inaudible": 0.1, "text": 0.3}}}, "sum to 1"),
    ({"data": {"inaudible_sources": {"silence": 1.0}}}, "may only have the keys ['noise', 'random', 'shuffled']"),
    ({"data": {"inaudible_sources": {"random": 0.5}}}, "inaudible_sources fractions"),
    ({"tts": {"backend": "festival"}}, "tts.backend"),
    ({"training": {"typo_field": 1}}, "training.typo_field"),
    ({"training": {"device": "cpu", "dtype": "fp16"}}, "training.dtype"),
])
def test_bad_config_fails_on_load_naming_the_field(override, field):
    with pytest.raises(ConfigError) as e:
        load_profile("local", override)
    assert field in str(e.value)


def test_profile_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_profile(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profile(bad)
    with pytest.raises(ConfigError, match="unknown profile"):
        load_profile("nope")


def test_overrides_and_workdir():
    p = load_profile("local", parse_overrides(["training.stages.stage1.steps=20"]))
    assert p.training.stages["stage1"].steps == 20
    with pytest.raises(ConfigError, match="section.field=value"):
        parse_overrides(["nonsense"])
    assert with_workdir(p, "/x").registry.tracking_uri == "sqlite:////x/mlflow.db"


def test_a_mix_override_replaces_the_whole_mix():
    mix = {"two_turn": 0.8, "four_turn": 0.1, "inaudible": 0.1}
    assert "text" in load_profile("local").data.stage3_mix
    assert load_profile("local", {"data": {"stage3_mix": mix}}).data.stage3_mix == mix
    with pytest.raises(ConfigError, match="stage3_mix must have the keys"):
        load_profile("local", {"data": {"stage3_mix": {"inaudible": 1.0}}})


def test_a_profile_inherits_and_lists_only_differences(tmp_path):
    child = tmp_path / "mine.yaml"
    child.write_text("inherit: local\nname: mine\ntraining:\n  stages:\n    stage3: {lr: 2.0e-4}\n"
                     "data:\n  stage3_mix: {two_turn: 0.9, four_turn: 0.05, inaudible: 0.05}\n")
    p, local = load_profile(child), load_profile("local")
    assert p.name == "mine" and p.training.stages["stage3"].lr == 2e-4
    assert p.training.stages["stage3"].steps == local.training.stages["stage3"].steps  # merged, not replaced
    assert p.data.stage3_mix == {"two_turn": 0.9, "four_turn": 0.05, "inaudible": 0.05}  # a mix is replaced whole
    assert p.tts == local.tts
    grandchild = tmp_path / "g.yaml"
    grandchild.write_text("inherit: mine.yaml\nname: g\n")  # a path, relative to the file
    assert load_profile(grandchild).training.stages["stage3"].lr == 2e-4


def test_smoke_inherits_local():
    from importlib import resources

    text = resources.files("ichigo.config").joinpath("profiles/smoke.yaml").read_text()
    assert "inherit: local" in text and "registry:" in text and "tracking_uri" not in text
    smoke = load_profile("smoke")
    assert smoke.registry.tracking_uri == load_profile("local").registry.tracking_uri
    assert smoke.base_model.embed_dim == 64 and smoke.eval.mmlu_format == "letter"


def test_bad_inherit_fails_naming_it(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("inherit: b.yaml\nname: a\n")
    b.write_text("inherit: a.yaml\nname: b\n")
    with pytest.raises(ConfigError, match="inherit loops back"):
        load_profile(a)
    a.write_text("inherit: nosuch\nname: a\n")
    with pytest.raises(ConfigError, match="unknown profile 'nosuch'"):
        load_profile(a)
    a.write_text("inherit: [local]\nname: a\n")
    with pytest.raises(ConfigError, match="inherit must be a profile name"):
        load_profile(a)
