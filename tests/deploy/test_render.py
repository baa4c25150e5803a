"""The generated serveConfigV2 files are golden files: stale ones fail here."""


import yaml

from ichigo.config import load_profile
from ichigo.deploy import render
from ichigo.deploy.serve_config import build_serve_config
from ichigo.paths import REPO_ROOT


def test_generated_files_are_current():
    stale = render.stale_files()
    assert not stale, f"stale generated files {[str(p) for p in stale]}: run python -m ichigo.deploy.render"


def test_generated_patch_holds_the_profile_serve_config():
    patch = yaml.safe_load((REPO_ROOT / "manifests/base/serve-config.generated.yaml").read_text())
    assert patch["kind"] == "RayService" and patch["metadata"]["name"] == "ichigo"
    assert yaml.safe_load(patch["spec"]["serveConfigV2"]) == build_serve_config(load_profile("h100"))
    dev = yaml.safe_load((REPO_ROOT / "manifests/overlays/dev/serve-config.generated.yaml").read_text())
    assert yaml.safe_load(dev["spec"]["serveConfigV2"])["applications"][0]["args"]["profile"] == "local"


def test_stale_file_is_detected_and_rewritten(tmp_path):
    for rel in ("manifests/base", "manifests/overlays/dev", "helm/ichigo/files"):
        (tmp_path / rel).mkdir(parents=True)
    assert len(render.stale_files(tmp_path)) == 4  # nothing written yet
    assert len(render.write_all(tmp_path)) == 4
    assert render.stale_files(tmp_path) == []
    f = tmp_path / "helm/ichigo/files/serve-config-h100.yaml"
    f.write_text(f.read_text().replace("max_replicas: 8", "max_replicas: 9"))
    assert render.stale_files(tmp_path) == [f]
