"""whisperspeech's stand-in IPython must not break later matplotlib plots in the same process."""

import subprocess
import sys


def test_matplotlib_plots_after_the_stand_in():
    code = ("from ichigo.tts.compat import _build_ipython\n_build_ipython()\n"
            "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
            "fig = plt.figure(); plt.plot([1, 2]); plt.close(fig); print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
