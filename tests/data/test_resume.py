"""A build killed with SIGKILL resumes with no duplicate and no missing utterance."""

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from ichigo.data.corpus_plan import plan_corpus
from ichigo.data.speech_corpus import build_speech_corpus
from ichigo.data.world_datasets import write_world_datasets
from ichigo.files import shard_paths

pytestmark = pytest.mark.slow

SCRIPT = """
import sys
from ichigo.config import load_profile
from tests.data.conftest import SMALL
p = load_profile("local", overrides=SMALL)
from ichigo.data.speech_corpus import build_speech_corpus
from ichigo.data.world_datasets import write_world_datasets
build_speech_corpus(p, sys.argv[1], shard_utterances=10, progress=False)
"""


def test_sigkill_then_resume(small_profile, tmp_path):
    out = tmp_path / "corpus"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)], cwd=os.getcwd(),
                            start_new_session=True)  # its own group: we kill workers too
    deadline = time.time() + 60
    while time.time() < deadline and len(list(out.glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(out.glob("part-*.parquet")))
    # the world datasets were complete before the first corpus shard: this writes nothing
    plan = plan_corpus(small_profile, write_world_datasets(small_profile, out / "world"), 10)
    n_shards = -(-len(plan.utterances) // 10) + len(plan.asr_jobs)
    assert 3 <= done_before < n_shards, "the kill must land mid-build"
    assert not (out / "manifest.json").exists()

    m = build_speech_corpus(small_profile, out, shard_utterances=10, progress=False)
    assert m.resumed_shards >= done_before and m.num_shards == n_shards
    ids = [i for p in shard_paths(out) for i in pq.read_table(p, columns=["id"]).column("id").to_pylist()]
    n_asr = small_profile.data.stage1_utterances
    assert len(ids) == len(set(ids)) == len(plan.utterances) + n_asr
    assert set(ids) >= {u.id for u in plan.utterances}
    assert not list(out.glob("*.tmp"))
