"""``itaclip serve``: the page through Gradio's client API, and in a real headless browser."""
import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # as itaclip.web sets it, before Gradio loads
gr = pytest.importorskip("gradio", reason="the web page needs the [web] extra (pip install -e '.[web]')")
client_module = pytest.importorskip("gradio_client", reason="gradio_client comes with gradio")

from itaclip import cli, web  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "docs" / "serve.png"  # the README's picture; written when ITACLIP_SCREENSHOT=1
FAST = dict(slide_stride=224, prob_thd=0.0, pamr_steps=1, logit_scale=40)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def page(tiny_checkpoint, tiny_dino):
    app = web.build_app(weights=str(tiny_checkpoint), device="cpu", vfm_weights=str(tiny_dino))
    _, url, _ = app.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url
    app.close()


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("web") / "street.png"
    rng = np.random.default_rng(0)
    Image.fromarray(np.kron(rng.integers(0, 255, (6, 8, 3)), np.ones((10, 10, 1))).astype(np.uint8)).save(path)
    return path


def ask(url: str, image, classes="cat, dog; puppy", background="wall, sky", preset="voc21", **settings):
    client = client_module.Client(url, verbose=False)
    values = dict(FAST, **settings)
    return client.predict(image, classes, background, preset, values["slide_stride"], values["prob_thd"],
                          values["pamr_steps"], values["logit_scale"], api_name="/segment")


def test_the_api_segments_and_returns_the_files(page, photo):
    overlay, table, files = ask(page, client_module.handle_file(str(photo)))
    assert Image.open(overlay).size[0] > 80 and Image.open(overlay).size[1] >= 60  # the legend beside the photo
    paths = {Path(f).name: Path(f) for f in files}
    assert set(paths) == {"street_mask.png", "street.json"}
    mask = Image.open(paths["street_mask.png"])
    assert mask.mode == "P" and mask.size == (80, 60)
    record = json.loads(paths["street.json"].read_text())
    assert [c["name"] for c in record["classes"]] == ["background", "cat", "dog"]
    assert record["classes"][2]["names"] == ["dog", "puppy"]
    assert record["settings"]["slide_stride"] == 224 and record["settings"]["pamr_steps"] == 1
    shares = {c["name"]: c["share"] for c in record["classes"]}
    rows = table["data"] if isinstance(table, dict) else table
    assert {row[0] for row in rows} == {name for name, share in shares.items() if share > 0}


def test_other_classes_and_presets_reuse_the_page(page, photo):
    """New classes, no background, another method's preset: each answered, the server still up."""
    _, _, files = ask(page, client_module.handle_file(str(photo)), classes="road, tree, car", background="")
    record = json.loads(Path([f for f in files if f.endswith(".json")][0]).read_text())
    assert [c["name"] for c in record["classes"]] == ["road", "tree", "car"]
    assert record["settings"]["background"] is None
    _, _, files = ask(page, client_module.handle_file(str(photo)), preset="sclip/voc21")
    record = json.loads(Path([f for f in files if f.endswith(".json")][0]).read_text())
    assert record["settings"]["method"] == "CLIPForSegmentation"
    _, _, files = ask(page, client_module.handle_file(str(photo)), preset="proxyclip/voc21", pamr_steps=0)
    record = json.loads(Path([f for f in files if f.endswith(".json")][0]).read_text())  # with the page's DINO
    assert record["settings"]["method"] == "ProxyCLIPSegmentation" and record["settings"]["vfm"]["sha256"]


@pytest.mark.parametrize("change, message", [
    (dict(image="bad"), "cannot read image"),
    (dict(image="thin"), "thin.png: 600 x 1 pixels, 2048 x 3 once resized, is thinner than one patch"),
    (dict(classes=" , "), "type the classes"),
    (dict(background="", prob_thd=0.3), "hands pixels to class 0"),
    (dict(preset="nowhere"), "nowhere is not in the list of choices"),  # Gradio's own check of the list
])
def test_a_bad_request_gets_one_line_and_the_next_works(page, photo, tmp_path, change, message):
    kind = change.pop("image", None)
    if kind == "thin":  # a 1 x 600 strip: too thin for the model, said in one line
        thin = tmp_path / "thin.png"
        Image.fromarray(np.zeros((1, 600, 3), np.uint8)).save(thin)
        image = client_module.handle_file(str(thin))
    elif kind:
        bad = tmp_path / "broken.jpg"
        bad.write_bytes(b"this is not a picture")
        image = client_module.handle_file(str(bad))
    else:
        image = client_module.handle_file(str(photo))
    with pytest.raises(Exception) as caught:
        ask(page, image, **change)
    assert message in str(caught.value) and "\n" not in str(caught.value).strip()
    assert ask(page, client_module.handle_file(str(photo)))[0]  # the server is still there


def test_a_photo_too_large_for_memory_is_refused_on_the_page(page, photo, monkeypatch):
    from itaclip import budget

    monkeypatch.setattr(budget, "available_bytes", lambda device: 100_000)
    with pytest.raises(Exception) as caught:
        ask(page, client_module.handle_file(str(photo)))
    assert "street.png: 80 x 60 pixels need about" in str(caught.value) and "max_pixels=" in str(caught.value)
    monkeypatch.undo()
    assert ask(page, client_module.handle_file(str(photo)))[0]


def test_serve_checks_its_options_in_one_line(capsys):
    assert cli.main(["serve", "--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == "itaclip serve: error: --port 70000: a port is 1 to 65535"
    assert cli.main(["serve", "--preset", "nowhere"]) == 2
    assert "nowhere" in capsys.readouterr().err


def browser():
    """A headless Chromium driven by selenium, or a reason to skip."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the [dev] extra")
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip("no Chromium and chromedriver on this machine (Debian: apt-get install chromium chromium-driver;"
                    " .ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1250"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)


@pytest.mark.slow
def test_requests_at_once_are_queued_and_all_answered(page, photo):
    client = client_module.Client(page, verbose=False)
    jobs = [client.submit(client_module.handle_file(str(photo)), classes, "wall", "voc21", *FAST.values(),
                          api_name="/segment") for classes in ("cat, dog", "tree, car", "sofa")]
    names = [[c["name"] for c in json.loads(Path(job.result()[2][1]).read_text())["classes"]] for job in jobs]
    assert names == [["background", "cat", "dog"], ["background", "tree", "car"], ["background", "sofa"]]


@pytest.mark.browser
@pytest.mark.slow
def test_a_browser_segments_an_uploaded_photo(page, photo, tmp_path):
    """Load the page, upload, type the classes, press Segment: the overlay appears; a screenshot is saved
    (Grace Hopper's portrait from matplotlib where it is installed, as the README's picture)."""
    examples = web.example_images()
    photo = Path(examples[0]) if examples else photo
    driver = browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        driver.get(page)
        wait = WebDriverWait(driver, 60)
        upload = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#image input[type=file]")))
        upload.send_keys(str(photo))
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#image img")))
        classes = driver.find_element(By.CSS_SELECTOR, "#classes textarea, #classes input")
        classes.clear()
        classes.send_keys("person, tie, flag, uniform")
        driver.find_element(By.CSS_SELECTOR, "#segment").click()
        overlay = WebDriverWait(driver, 180).until(
            ready.visibility_of_element_located((By.CSS_SELECTOR, "#overlay img")))
        assert overlay.get_attribute("src")
        wait.until(lambda d: f"{photo.stem}" in d.find_element(By.CSS_SELECTOR, "#files").text)  # the downloads
        driver.execute_script("window.scrollTo(0, 0)")
        shot = tmp_path / "page.png"
        driver.save_screenshot(str(shot))
        assert Image.open(shot).size[0] > 0
        if os.environ.get("ITACLIP_SCREENSHOT") == "1":
            SCREENSHOT.parent.mkdir(exist_ok=True)
            shutil.copy(shot, SCREENSHOT)
    finally:
        driver.quit()
