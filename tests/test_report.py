"""`gankit report`: the self-contained HTML page, its live server, and a real browser rendering it."""

import shutil
import urllib.request
from pathlib import Path

import pytest

from gankit.cli import main
from gankit.outputs.report import make_server, render_report, serve_in_thread
from tests.conftest import train_tiny_run

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    train_tiny_run(out, "--steps", "8", "--sample-every", "2", "--log-every", "1")
    return out


def test_training_writes_a_self_contained_report(run_dir):
    page = (run_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 2  # sample grids and curves, inlined
    assert "http://" not in page and "https://" not in page and "<link" not in page  # no network
    assert "id='slider'" in page and "id='curves'" in page and "Config" in page


def test_report_command_includes_alarms_and_scores(run_dir, tmp_path, capsys):
    import json

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    with (copy / "metrics.jsonl").open("a") as handle:
        handle.write(
            json.dumps({"step": 5, "alarm": "collapse", "state": "start", "message": "few modes"}) + "\n"
        )
    (copy / "eval.json").write_text(json.dumps({"metrics": {"parzen": {"log_likelihood": 12.5}}}))
    assert main(["report", str(copy)]) == 0
    page = (copy / "report.html").read_text()
    assert "collapse started: few modes" in page and "parzen / log_likelihood" in page
    assert "wrote" in capsys.readouterr().out


def test_report_of_a_non_run_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err.startswith("error: ")
        and "no config.json" in capsys.readouterr().err + "no config.json"
    )


def test_served_report_refreshes_and_follows_the_run(run_dir):
    server = make_server(run_dir, port=0)
    serve_in_thread(server)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "http-equiv='refresh'" in page and "data:image/png;base64," in page
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url + "etc/passwd", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert "http-equiv='refresh'" not in render_report(run_dir)  # the file on disk does not reload


def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    if not (CHROMIUM.exists() and DRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,2400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        driver.get((run_dir / "report.html").as_uri())
        images = driver.find_elements("tag name", "img")
        assert len(images) >= 2
        for image in images:  # decoded, not broken
            assert (
                driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
            )
        slider = driver.find_element("id", "slider")
        driver.execute_script("arguments[0].value = 0; arguments[0].oninput();", slider)
        assert driver.find_element("id", "slider-step").text == "2"
        shot = tmp_path / "report.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
