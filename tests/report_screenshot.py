"""Screenshots of the Snakemake report in headless Chromium (Debian's `chromium`), opened on one figure.

A manual check, not a test (CI has no browser): the report is a React page whose figures sit behind a
click, so a copy of it gets a few lines of script that make that click (the report's own `app.setView`)
once the page has loaded; the report itself is not changed.

    .venv/bin/python tests/report_screenshot.py results/report.html results/figures/vision/digits/accuracy.png shot.png
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

CLICK = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const path = %s;
  app.setView({content: "img", contentPath: results[path].data_uri, resultPath: path});
  setTimeout(() => app.showCategory(%s), 300);  // after the first view is set: setView reads state
}, 500));
</script>"""


def screenshot(report: Path, figure: str, category: str, out: Path, size: str = "1600,1000") -> None:
    html = report.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "report.html"
        head, body_end, tail = html.rpartition("</body>")  # the last one: scripts quote the tag too
        page.write_text(head + CLICK % (json.dumps(figure), json.dumps(category)) + body_end + tail, encoding="utf-8")
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={folder}/profile",
                f"--window-size={size}",
                "--virtual-time-budget=8000",
                f"--screenshot={out.resolve()}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


if __name__ == "__main__":
    report, figure, out = sys.argv[1:4]
    category = sys.argv[4] if len(sys.argv) > 4 else figure.split("figures/", 1)[1].rsplit("/", 1)[0]
    screenshot(Path(report), figure, category, Path(out))
    print(f"{out}: {Path(out).stat().st_size} bytes")
