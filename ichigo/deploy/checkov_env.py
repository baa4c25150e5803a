"""checkov in its own tool venv (`.venv-checkov`): its pins clash with the main stack.

`ensure_checkov()` creates the venv on first use (about a minute) and returns the checkov binary;
`run_checkov(...)` scans a directory or file and returns the parsed JSON report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ichigo.errors import ConfigError
from ichigo.paths import REPO_ROOT

CHECKOV_VERSION = "3.3.30"


def checkov_venv() -> Path:
    return Path(os.environ.get("ICHIGO_CHECKOV_VENV", REPO_ROOT / ".venv-checkov"))


def ensure_checkov(version: str = CHECKOV_VERSION) -> Path:
    """Path to a working checkov binary, installing it into the tool venv when missing.

    Raises ConfigError with pip's output when the install fails (e.g. no registry access)."""
    venv = checkov_venv()
    exe = venv / "bin" / "checkov"
    stamp = venv / ".checkov-version"
    if exe.exists() and stamp.exists() and stamp.read_text().strip() == version:
        return exe
    if not (venv / "bin" / "python").exists():
        res = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if res.returncode:
            raise ConfigError(f"could not create {venv}: {res.stderr.strip()}")
    res = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"checkov=={version}"],
                         capture_output=True, text=True)
    if res.returncode or not exe.exists():
        raise ConfigError(f"installing checkov=={version} into {venv} failed:\n{res.stderr.strip()[-2000:]}")
    stamp.write_text(version)
    return exe


@dataclass
class CheckovFailure:
    check_id: str
    name: str
    resource: str
    file: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.name} ({self.resource} in {self.file})"


@dataclass
class CheckovReport:
    passed: int = 0
    failures: list[CheckovFailure] = field(default_factory=list)
    skipped: list[CheckovFailure] = field(default_factory=list)


def run_checkov(target: Path, framework: str = "kubernetes", exe: Path | None = None,
                extra_args: tuple[str, ...] = ()) -> CheckovReport:
    """Scan `target` (a file or directory) offline and collect failed and suppressed checks."""
    exe = exe or ensure_checkov()
    flag = "-f" if target.is_file() else "-d"
    cmd = [str(exe), flag, str(target), "--framework", framework, "-o", "json", "--compact",
           "--skip-download", *extra_args]
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode not in (0, 1) or not res.stdout.strip():
        raise ConfigError(f"checkov failed ({res.returncode}) on {target}:\n{res.stderr.strip()[-2000:]}")
    data = json.loads(res.stdout)
    report = CheckovReport()
    for block in data if isinstance(data, list) else [data]:
        if not isinstance(block, dict):  # checkov prints a summary dict or [] when nothing matched
            continue
        results = block.get("results", {})
        report.passed += int(block.get("summary", {}).get("passed", 0))
        for key, out in (("failed_checks", report.failures), ("skipped_checks", report.skipped)):
            for c in results.get(key, []):
                out.append(CheckovFailure(c["check_id"], c.get("check_name", ""), c.get("resource", ""),
                                          c.get("file_path", "")))
    return report
