"""Stage 1 under torchrun with 2 CPU processes (gloo): questions split, rows gathered in order."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dca.extract.stage import ExtractConfig
from dca.extract.stage import run as run_extract

pytestmark = pytest.mark.slow


def test_two_processes_give_the_single_process_table(format_model_dir, tmp_path):
    args = [f"model={format_model_dir}", "n_questions=10", "n_eval=4", "k_shot=0", "max_new_tokens=10",
            "batch_size=3", "device=cpu", "dtype=float32"]
    single = tmp_path / "single"
    run_extract(ExtractConfig.from_dict(dict(a.split("=", 1) for a in args), run_dir=str(single)), progress=False)
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    double = tmp_path / "double"
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "dca", "extract",
                           "profile=none", f"run_dir={double}", *args], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = pd.read_parquet(single / "stage1.parquet")
    b = pd.read_parquet(double / "stage1.parquet")
    assert a["id"].tolist() == b["id"].tolist()  # gathered back into the original order
    assert a["response"].tolist() == b["response"].tolist()
    np.testing.assert_allclose(a["c_i"].to_numpy(float), b["c_i"].to_numpy(float), atol=1e-4, equal_nan=True)
    import json
    prov = json.loads((double / "stage1.parquet.provenance.json").read_text())
    assert prov["world_size"] == 2
    assert b["parse_ok"].all() and b["c_i"].notna().all()  # real numbers were gathered, not NaN
