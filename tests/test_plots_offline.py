"""`dvc plots show` renders without internet: the vendored page inlines Vega, Vega-Lite and vega-embed."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from project import REPO

TEMPLATE = REPO / "vendor/vega/plots.html"


def browser() -> str:
    """Debian's Chromium; CI installs it and sets REPROLAB_BROWSER, so there a missing browser fails."""
    path = os.environ.get("REPROLAB_BROWSER") or shutil.which("chromium")
    if path and Path(path).exists():
        return path
    if "REPROLAB_BROWSER" in os.environ:
        pytest.fail(f"REPROLAB_BROWSER={path} does not exist")
    pytest.skip("no chromium (apt-get install chromium)")


def rendered(page: Path, tmp_path: Path) -> str:
    """The page's DOM after its scripts ran in headless Chromium, with every network request refused."""
    result = subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--proxy-server=127.0.0.1:9", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def render_count(dom: str) -> int:
    """How many vega-embed views drew something (a canvas or an SVG)."""
    return sum('class="marks"' in view for view in dom.split('class="vega-embed')[1:])


def test_the_repository_uses_the_vendored_page():
    config = (REPO / ".dvc/config").read_text()
    assert re.search(r"html_template = \.\./vendor/vega/plots\.html", config)
    page = TEMPLATE.read_text()
    assert "{plot_divs}" in page and "{scripts}" not in page  # DVC's CDN script tags have nowhere to go
    assert not re.search(r"<script[^>]+src=", page)


def test_plots_render_offline_in_a_headless_browser(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"],
                    ["dvc", "config", "plots.html_template", str(TEMPLATE)]):
        subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)
    (repo / "loss.csv").write_text("step,loss\n0,0.69\n1,0.41\n2,0.33\n")
    (repo / "accuracy.csv").write_text("step,accuracy\n0,0.5\n1,0.8\n2,0.86\n")
    (repo / "dvc.yaml").write_text("plots:\n  - loss.csv:\n      x: step\n      y: loss\n"
                                   "  - accuracy.csv:\n      x: step\n      y: accuracy\n")
    subprocess.run(["dvc", "plots", "show", "-o", "out"], cwd=repo, env=env, check=True, capture_output=True)
    dom = rendered(repo / "out/index.html", tmp_path)
    assert render_count(dom) == 2, dom[:2000]
    page = (repo / "out/index.html").read_text()
    (repo / "out/cdn.html").write_text(re.sub(r"<script>.*?</script>", "", page, flags=re.S)  # DVC's default page
                                       .replace("<title>", '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script><title>'))
    assert render_count(rendered(repo / "out/cdn.html", tmp_path)) == 0  # without the inlined scripts nothing draws
