"""The one packaged model that the registry stores and serving loads.

```
<package>/
  package.json        format version, chat template id, base model, speech tokenizer backend, lineage
  llm/                HF-format LLM dir (config.json, model.safetensors, tokenizer.json, ichigo.json)
  speech_tokenizer/   the speech tokenizer checkpoint (file named in package.json)
```
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ichigo.errors import InputError

PACKAGE_FORMAT = "ichigo-package/1"
# one id per layout of ichigo.chat_template (bump when it changes); the LLM's tokenizer says which
CHAT_TEMPLATE_IDS = {"llama3": "llama3-ichigo/1", "chatml": "chatml-ichigo/1"}
CHAT_TEMPLATE_ID = CHAT_TEMPLATE_IDS["llama3"]  # packages written before bases could vary
PACKAGE_FILE = "package.json"


@dataclass
class PackageInfo:
    speech_tokenizer_backend: str
    speech_tokenizer_file: str  # relative to speech_tokenizer/
    chat_template: str = CHAT_TEMPLATE_ID
    format: str = PACKAGE_FORMAT
    lineage: dict[str, Any] = field(default_factory=dict)
    # what the LLM was built from: kind/uri/name of the base, its vocabulary size (= the id of
    # <|sound_start|>), architecture and chat layout
    base_model: dict[str, Any] = field(default_factory=dict)


def describe_base(llm_dir: str | Path) -> tuple[str, dict[str, Any]]:
    """(chat template id, base-model record) of an HF-format LLM dir written by this platform,
    read from its JSON files (config.json, tokenizer_config.json, ichigo.json) only."""
    d = Path(llm_dir)

    def read(name: str) -> dict:
        try:
            return json.loads((d / name).read_text()) if (d / name).is_file() else {}
        except json.JSONDecodeError as e:
            raise InputError(f"{d / name} is not valid JSON: {e}") from None

    cfg, tok_cfg, meta = read("config.json"), read("tokenizer_config.json"), read("ichigo.json")
    fmt = tok_cfg.get("ichigo_chat_format", "llama3")  # checkpoints before formats: Llama-3
    if fmt not in CHAT_TEMPLATE_IDS:
        raise InputError(f"{d}: chat format {fmt!r} is not supported; supported: {sorted(CHAT_TEMPLATE_IDS)}")
    base = {k: v for k, v in (meta.get("base_model") or {}).items() if k != "loss_curve"}
    base.update(chat_format=fmt, vocab_size=cfg.get("vocab_size"),
                base_vocab_size=meta.get("base_vocab_size"), layers=cfg.get("num_hidden_layers"),
                hidden=cfg.get("hidden_size"), tied_embeddings=bool(cfg.get("tie_word_embeddings")))
    return CHAT_TEMPLATE_IDS[fmt], base


def write_package(out_dir: str | Path, llm_dir: str | Path, speech_tokenizer_path: str | Path,
                  speech_tokenizer_backend: str, lineage: dict[str, Any] | None = None) -> Path:
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(llm_dir, out / "llm")
    st = Path(speech_tokenizer_path)
    (out / "speech_tokenizer").mkdir(parents=True)
    if st.is_dir():
        shutil.copytree(st, out / "speech_tokenizer", dirs_exist_ok=True)
        name = "."
    else:
        shutil.copy2(st, out / "speech_tokenizer" / st.name)
        name = st.name
    template_id, base = describe_base(out / "llm")
    info = PackageInfo(speech_tokenizer_backend, name, chat_template=template_id,
                       lineage=lineage or {}, base_model=base)
    (out / PACKAGE_FILE).write_text(json.dumps(vars(info), indent=2, sort_keys=True) + "\n")
    return out


def read_package_info(package_dir: str | Path) -> PackageInfo:
    path = Path(package_dir) / PACKAGE_FILE
    if not path.is_file():
        raise InputError(f"{package_dir} is not an Ichigo model package (no {PACKAGE_FILE})")
    info = PackageInfo(**json.loads(path.read_text()))
    check_relative(info.speech_tokenizer_file, f"{path}: speech_tokenizer_file")
    if info.format != PACKAGE_FORMAT:
        raise InputError(f"package format {info.format!r} is not supported (need {PACKAGE_FORMAT})")
    if info.chat_template not in CHAT_TEMPLATE_IDS.values():
        raise InputError(f"package was trained with chat template {info.chat_template!r}, this code "
                         f"supports {sorted(CHAT_TEMPLATE_IDS.values())}; retrain or use the matching "
                         "release")
    return info


def llm_dir(package_dir: str | Path) -> Path:
    return Path(package_dir) / "llm"


def check_relative(name: str, what: str) -> str:
    """A path read from data (a package file, an S3 key) that must stay inside its directory:
    no absolute path, no `..` segment (a package from the registry must not make serving read
    /etc/... or another version's files)."""
    p = Path(name)
    if not name or p.is_absolute() or ".." in p.parts or "\0" in name:
        raise InputError(f"{what} is {name!r}: it must be a relative path inside its directory "
                         "(no leading '/', no '..')")
    return name


def inside(root: str | Path, name: str, what: str) -> Path:
    """`root/name`, checked to stay under `root` after resolving symlinks too."""
    check_relative(name, what)
    base = Path(root).resolve()
    out = (base / name).resolve()
    if out != base and base not in out.parents:
        raise InputError(f"{what} {name!r} leads outside {base}")
    return out


def speech_tokenizer_path(package_dir: str | Path) -> Path:
    info = read_package_info(package_dir)
    return inside(Path(package_dir) / "speech_tokenizer", info.speech_tokenizer_file,
                  "package.json speech_tokenizer_file")
