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
    """(chat template id, base-model record) of an HF-format LLM dir written by this platform."""
    from ichigo.model.checkpoint import META_FILE, load_args
    from ichigo.model.tokenizer import IchigoTokenizer

    d = Path(llm_dir)
    tok = IchigoTokenizer.load(d)
    args = load_args(d)
    meta = json.loads((d / META_FILE).read_text()) if (d / META_FILE).is_file() else {}
    base = {k: v for k, v in (meta.get("base_model") or {}).items() if k != "loss_curve"}
    base.update(chat_format=tok.chat_format.name, vocab_size=args.vocab_size,
                base_vocab_size=tok.sound.base_vocab_size if tok.sound else args.vocab_size,
                layers=args.num_layers, hidden=args.embed_dim, tied_embeddings=args.tie_embeddings)
    return CHAT_TEMPLATE_IDS[tok.chat_format.name], base


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
    if info.format != PACKAGE_FORMAT:
        raise InputError(f"package format {info.format!r} is not supported (need {PACKAGE_FORMAT})")
    if info.chat_template not in CHAT_TEMPLATE_IDS.values():
        raise InputError(f"package was trained with chat template {info.chat_template!r}, this code "
                         f"supports {sorted(CHAT_TEMPLATE_IDS.values())}; retrain or use the matching "
                         "release")
    return info


def llm_dir(package_dir: str | Path) -> Path:
    return Path(package_dir) / "llm"


def speech_tokenizer_path(package_dir: str | Path) -> Path:
    info = read_package_info(package_dir)
    return (Path(package_dir) / "speech_tokenizer" / info.speech_tokenizer_file).resolve()
