"""What the tokenizer is fit on: train-split speech only, in an order eval-only shards do not move."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ichigo.audio import wav_bytes
from ichigo.speech_tokenizer.train import _train_waves


def _shard(path, split: str, kind: str, seconds: list[float]) -> None:
    rows = [{"split": split, "kind": kind, "audio_wav": wav_bytes(np.full(int(s * 16000), 0.1 * (i + 1), np.float32))}
            for i, s in enumerate(seconds)]
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_fit_audio_is_train_speech_and_eval_only_shards_do_not_change_it(tmp_path):
    for k in range(6):  # train shards of distinct clip lengths, so the order shows in the result
        _shard(tmp_path / f"part-{k:05d}.parquet", "train", "question", [1.0 + k, 0.5])
    _shard(tmp_path / "part-00006.parquet", "train", "noise", [3.3])
    before = [len(w) for w in _train_waves(tmp_path, 4.0, seed=0)]
    for k in range(7, 10):  # an eval set grew: more eval-only shards at the end
        _shard(tmp_path / f"part-{k:05d}.parquet", "eval", "sentence", [2.0, 2.0])
    after = [len(w) for w in _train_waves(tmp_path, 4.0, seed=0)]
    assert before == after and sum(before) >= 4.0 * 16000
    assert int(3.3 * 16000) not in before  # noise is not speech
    everything = [len(w) for w in _train_waves(tmp_path, 1e9, seed=0)]
    assert sorted(everything) == sorted([int((1.0 + k) * 16000) for k in range(6)] + [8000] * 6)
