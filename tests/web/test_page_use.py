"""The page as people use it, on the static site in Chromium: keyboard alone, an accessibility scan
in each state, errors and stale results, the features people expect, and a phone's screen.
Screenshots of each state are saved in the test's temporary folder."""
import numpy as np
import pytest
from axe_playwright_python.sync_playwright import Axe
from browser_site import chromium, page, site, site_url, wait_ready  # noqa: F401  (fixtures)
from conftest import gradient_image
from PIL import Image

FRAMES = "Number(document.getElementById('fps').dataset.frames || 0)"


def serious_violations(page):
    results = Axe().run(page)
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def tab_until(page, condition, limit=80):
    """Press Tab until `condition` (JS on document.activeElement, as `el`) holds; the ids passed."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.id"))
        if page.evaluate(f"(el => {condition})(document.activeElement)"):
            return seen
    raise AssertionError(f"never reached {condition}; focus went through {seen}")


def result_pixels(page):
    return page.evaluate("""async () => {
        const img = document.getElementById('result-image'); await img.decode();
        const c = new OffscreenCanvas(img.naturalWidth, img.naturalHeight), g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        return [c.width, c.height, Array.from(g.getImageData(0, 0, c.width, c.height).data)];
    }""")


def wait_new_result(page, previous, timeout=60_000):
    page.wait_for_function(f"(document.getElementById('result-image')?.src || {previous!r}) !== {previous!r}",
                           timeout=timeout)
    return page.get_attribute("#result-image", "src")


def test_keyboard_alone_reaches_everything_and_stylises(page, tmp_path):
    reached = tab_until(page, "el.id === 'go'")
    for needed in ("tab-photo", "content", "style", "style2", "model-browser", "alpha", "preserve-color", "size", "go"):
        assert needed in reached, (needed, reached)
    # From the top again, with keys only: an example photo, an example painting, a lower strength, Stylize.
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    page.keyboard.press("Shift+Tab")  # wrap to the end, then start over from the top
    page.goto(page.url.split("#")[0])
    wait_ready(page)
    tab_until(page, "el.title && el.title.startsWith('Gorilla')")
    page.keyboard.press("Enter")
    tab_until(page, "el.title && el.title.startsWith('The Sower')")
    page.keyboard.press("Space")
    tab_until(page, "el.id === 'alpha'")
    page.keyboard.press("ArrowLeft")
    assert page.input_value("#alpha") == "0.95"
    tab_until(page, "el.id === 'size'")
    page.keyboard.press("Control+a")
    page.keyboard.type("96")
    tab_until(page, "el.id === 'go'")
    page.keyboard.press("Enter")
    page.wait_for_selector("#result-image", timeout=60_000)
    assert page.get_attribute("#download", "download") == "gorilla-sower.png"
    assert "Done in" in page.text_content("#status")
    assert page.get_attribute("#status", "role") == "status"  # announced to screen readers
    # The tabs: arrow keys move between them, and each names the panel it controls.
    page.focus("#tab-photo")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-camera"
    assert page.get_attribute("#tab-camera", "aria-selected") == "true"
    assert page.is_visible("#panel-camera") and not page.is_visible("#panel-photo")
    assert page.get_attribute("#tab-camera", "aria-controls") == "panel-camera"
    # The colours checkbox is a comfortable target (its label row), not 13 px.
    box = page.locator("label.check").bounding_box()
    assert box["height"] >= 44, box
    page.screenshot(path=str(tmp_path / "keyboard.png"))


def test_no_serious_or_critical_accessibility_violations_in_any_state(page, tmp_path):
    states = {}
    states["start"] = serious_violations(page)
    page.screenshot(path=str(tmp_path / "a11y-start.png"), full_page=True)
    page.click("#go")
    states["error"] = serious_violations(page)
    page.screenshot(path=str(tmp_path / "a11y-error.png"), full_page=True)
    page.click("#example-photos .thumb:nth-child(2)")
    page.click("#example-styles .thumb:nth-child(3)")
    page.fill("#size", "128")
    page.click("#go")
    page.wait_for_selector("#result-image", timeout=60_000)
    states["result"] = serious_violations(page)
    page.screenshot(path=str(tmp_path / "a11y-result.png"), full_page=True)
    page.click("#full-view-open")
    states["full view"] = serious_violations(page)
    page.screenshot(path=str(tmp_path / "a11y-full-view.png"))
    page.keyboard.press("Escape")
    page.click("#tab-camera")
    page.click("#camera-toggle")
    page.wait_for_function(f"{FRAMES} >= 2", timeout=60_000)
    states["camera"] = serious_violations(page)
    page.screenshot(path=str(tmp_path / "a11y-camera.png"), full_page=True)
    page.click("#camera-toggle")
    assert all(not found for found in states.values()), states


def test_errors_name_the_problem_and_old_results_do_not_linger(page, tmp_path):
    gradient_image((60, 44), 1).save(tmp_path / "small.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    page.click("#go")
    assert page.text_content("#error") == "Choose a photo and a painting first."
    page.set_input_files("#content", str(tmp_path / "small.png"))
    page.wait_for_function("document.getElementById('error').textContent === ''")  # a choice clears the message
    page.click("#go")
    assert page.text_content("#error") == "Choose a painting first."
    page.set_input_files("#style", str(tmp_path / "notes.txt"))  # said at once, naming the file
    page.wait_for_function("document.getElementById('error').textContent.includes('notes.txt')")
    assert '"notes.txt" is not a picture' in page.text_content("#error")
    assert page.is_hidden("#style-preview")
    page.screenshot(path=str(tmp_path / "error-not-a-picture.png"))
    gradient_image((40, 12), 3).save(tmp_path / "sliver.png")  # too small for the networks: said before running
    page.set_input_files("#style", str(tmp_path / "sliver.png"))
    page.wait_for_function("document.getElementById('error').textContent.includes('sliver.png')")
    assert "is 40 x 12 pixels; the models need at least 16" in page.text_content("#error")
    page.click("#example-styles .thumb:nth-child(1)")
    page.wait_for_function("document.getElementById('error').textContent === ''")
    page.fill("#size", "4000")
    page.click("#go")
    assert "from 64 to 1024" in page.text_content("#error") and "shorter side" in page.text_content("#error")
    assert page.is_hidden("#result-image")
    # A photo smaller than the size asked for keeps its own size.
    page.fill("#size", "512")
    page.click("#go")
    page.wait_for_selector("#result-image", timeout=60_000)
    width, height, _ = result_pixels(page)
    assert (width, height) == (60, 44)
    assert page.text_content("#error") == ""
    # The fast model paints again when the strength changes, with no click; the old picture is replaced.
    before = page.get_attribute("#result-image", "src")
    first = np.array(result_pixels(page)[2])
    page.eval_on_selector("#alpha", "el => { el.value = 0.3; el.dispatchEvent(new Event('input')); }")
    wait_new_result(page, before)
    assert np.abs(np.array(result_pixels(page)[2]) - first).mean() > 0.5
    assert "strength" not in page.text_content("#error")
    # A picture that cannot be read after a result: the message names it; the result of the
    # previous photo is not left looking current.
    page.set_input_files("#content", str(tmp_path / "notes.txt"))
    page.wait_for_function("document.getElementById('error').textContent.includes('notes.txt')")
    page.screenshot(path=str(tmp_path / "error-after-result.png"), full_page=True)
    # The error line is on screen, even with a tall result above the fold.
    assert page.evaluate("(() => { const r = document.getElementById('error').getBoundingClientRect(); "
                         "return r.top >= 0 && r.bottom <= innerHeight; })()")


def test_blend_paste_link_full_view_and_snapshot(page, site_url, tmp_path):
    page.goto(f"{site_url}#photo=gorilla&style=coast&alpha=0.80&size=128&style2=example:sower&mix=0.30")
    page.reload()
    wait_ready(page)
    assert float(page.input_value("#alpha")) == 0.8 and page.input_value("#style2") == "example:sower"
    assert float(page.input_value("#mix")) == 0.3 and page.input_value("#size") == "128"
    assert "Coast" in page.text_content("#style-credit") and "Wesnoth" in page.text_content("#style-credit")
    page.click("#go")
    page.wait_for_selector("#result-image", timeout=60_000)
    assert page.get_attribute("#download", "download") == "gorilla-coast+sower.png"
    blended = np.array(result_pixels(page)[2])
    before = page.get_attribute("#result-image", "src")
    page.select_option("#style2", "")  # the blend off: another picture, painted at once
    wait_new_result(page, before)
    assert np.abs(np.array(result_pixels(page)[2]) - blended).mean() > 1
    assert "style2" not in page.url and "alpha=0.80" in page.url  # the address follows the settings
    # Keeping the photo's colours (the library's colour matching, in the browser) paints again, differently.
    plain, before = np.array(result_pixels(page)[2]), page.get_attribute("#result-image", "src")
    page.check("#preserve-color")
    wait_new_result(page, before)
    assert np.abs(np.array(result_pixels(page)[2]) - plain).mean() > 1 and "colors=1" in page.url
    # Full view shows the result at its own size.
    page.click("#full-view-open")
    assert page.is_visible("#full-view-image")
    assert page.evaluate("document.getElementById('full-view-image').naturalWidth") == result_pixels(page)[0]
    page.keyboard.press("Escape")
    # Paste a picture: it becomes the photo.
    gradient_image((72, 56), 4).save(tmp_path / "clip.png")
    data = list((tmp_path / "clip.png").read_bytes())
    page.evaluate("""bytes => {
        const file = new File([new Uint8Array(bytes)], 'clip.png', { type: 'image/png' });
        const data = new DataTransfer(); data.items.add(file);
        document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data }));
    }""", data)
    page.wait_for_function("document.getElementById('content-name').textContent.startsWith('clip.png, 72 x 56')")
    # The camera in the browser, and a snapshot of it.
    page.click("#tab-camera")
    page.click("#camera-toggle")
    page.wait_for_function(f"{FRAMES} >= 3", timeout=60_000)
    assert "in this browser" in page.text_content("#live-status")
    with page.expect_download() as download:
        page.click("#snapshot")
    assert download.value.suggested_filename == "camera-coast.png"
    download.value.save_as(tmp_path / "snapshot.png")
    assert Image.open(tmp_path / "snapshot.png").size == (341, 256)  # the 640x480 fake camera at 256 px
    page.click("#camera-toggle")


@pytest.fixture
def phone(chromium, site_url):
    context = chromium.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                   has_touch=True)
    page = context.new_page()
    page.goto(site_url)
    wait_ready(page)
    yield page
    context.close()


def on_screen(page, selector):
    return page.evaluate(f"""(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();
        return r.width > 0 && r.top >= 0 && r.bottom <= innerHeight; }})()""")


def test_phone_layout(phone, tmp_path):
    page = phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("#example-photos .thumb:nth-child(1)")
    page.click("#example-styles .thumb:nth-child(1)")
    page.evaluate("window.scrollTo(0, 0)")
    assert on_screen(page, "#go")  # the action stays on screen at the top of the page
    page.screenshot(path=str(tmp_path / "phone-picked.png"))
    page.fill("#size", "128")
    page.click("#go")
    page.wait_for_selector("#result-image", timeout=60_000)
    page.locator("#result-image").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "phone-result.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The camera: its own picture and the painted one on screen together, and the painted one
    # keeps changing while it is the part in view.
    page.click("#tab-camera")
    page.click("#camera-toggle")
    page.wait_for_function(f"{FRAMES} >= 2", timeout=60_000)
    page.locator("#live-canvas").scroll_into_view_if_needed()
    assert on_screen(page, "#live-canvas") and on_screen(page, "#camera-video")
    count = page.evaluate(FRAMES)
    page.wait_for_function(f"{FRAMES} >= {count + 3}", timeout=60_000)
    page.screenshot(path=str(tmp_path / "phone-camera.png"))
    page.click("#camera-toggle")
