"""The explain page in a real browser (Debian's chromium through selenium): no console
errors, stepping to the end shows backward()'s numbers, a reused Value shows a partial
sum before its total, stepping back restores the earlier state.

Skips when no browser can be driven here, unless TAPEGRAD_REQUIRE_BROWSER=1 (CI):
then it fails.
"""

from __future__ import annotations

import os

import pytest

from demos._browser import Chromium, missing
from tapegrad import Value, explain

pytestmark = pytest.mark.slow  # a real browser

_REASON = missing()
if _REASON is not None:
    if os.environ.get("TAPEGRAD_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"TAPEGRAD_REQUIRE_BROWSER=1 but no browser can run: {_REASON}")
    pytest.skip(f"no browser for the explain page: {_REASON}", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# Every drawn Value's attributes and the step counter, read in one round trip.
_STATE = """
const step = document.getElementById("step");
return {index: step.getAttribute("data-index"), total: step.getAttribute("data-total"),
        values: Array.from(document.querySelectorAll(".value")).map((v) => [
          v.getAttribute("data-name"), v.getAttribute("data-label"),
          v.getAttribute("data-value"), v.getAttribute("data-grad")])};
"""


def neuron():
    """tanh(w0 x + w1 x + b) * x: x is used three times."""
    x = Value(0.8, label="x")
    w0, w1, b = Value(0.5, label="w0"), Value(-1.5, label="w1"), Value(0.1, label="b")
    y = Value.dot([w0, w1], [x, x], b).tanh() * x
    y.label = "y"
    return y, [x, w0, w1, b]


@pytest.fixture(scope="module")
def driver():
    with Chromium(width=1200, height=800) as d:
        yield d


@pytest.fixture
def page(driver, tmp_path):
    y, leaves = neuron()
    path = tmp_path / "page.html"
    explain(y).save_html(str(path))
    driver.get(path.as_uri())
    driver.get_log("browser")  # start the console log afresh
    return driver, y, leaves


def state(driver) -> dict:
    return driver.execute_script(_STATE)


def click(driver, button: str) -> dict:
    """Click ``button`` from inside the page and return the state after it: one
    round trip to the browser per step, where loops step many times."""
    return driver.execute_script(f"document.getElementById(arguments[0]).click();{_STATE}", button)


def press(driver, button: str, times: int = 1) -> None:
    element = driver.find_element(By.ID, button)
    for _ in range(times):
        element.click()


def test_stepping_to_the_end_shows_backward_numbers(page):
    driver, y, leaves = page
    start = state(driver)
    total = int(start["total"])
    assert start["index"] == "0" and total == 3 + 1 + 3  # dot, tanh, mul; seed; 3 back
    assert all(grad == "" for _, _, _, grad in start["values"])
    press(driver, "next", total + 2)  # past the end stays at the end
    end = state(driver)
    assert end["index"] == str(total)
    y.backward()
    expected = {v.label: (repr(v.data), repr(v.grad)) for v in [*leaves, y]}
    drawn = {label: (value, grad) for _, label, value, grad in end["values"] if label}
    assert drawn == expected
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []


def test_reused_value_shows_a_partial_sum_before_its_total(page):
    driver, y, leaves = page
    x = leaves[0]
    seen = []
    for _ in range(int(state(driver)["total"])):
        grad = next(g for _, label, _, g in click(driver, "next")["values"] if label == "x")
        if grad and (not seen or seen[-1] != grad):
            seen.append(grad)
    y.backward()
    # First y = t * x gives t; then the weighted sum adds its two shares (one step).
    t = y.parents[0]
    assert seen == [repr(t.data), repr(x.grad)] and t.data != x.grad


def test_stepping_back_restores_the_earlier_state(page):
    driver, _, _ = page
    history = [state(driver)]
    total = int(history[0]["total"])
    for _ in range(total):
        history.append(click(driver, "next"))
    for k in range(total - 1, -1, -1):
        assert click(driver, "prev") == history[k]
    press(driver, "next", 5)
    press(driver, "reset")
    assert state(driver) == history[0]


def test_keys_jump_and_details(page):
    driver, _, _ = page
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_LEFT)
    assert state(driver)["index"] == "1"
    press(driver, "to-backward")
    assert state(driver)["index"] == "3"  # every forward step done, backward next
    press(driver, "next", 2)  # the seed, then y = n * x passes its gradient on
    driver.find_element(By.CSS_SELECTOR, '.value[data-label="x"]').click()
    details = driver.find_element(By.ID, "details").text
    assert "gradient d y / d x" in details and "from y:" in details
    assert "d y / d x = n2" in driver.find_element(By.ID, "formula").text


def test_play_runs_to_the_end(page):
    driver, _, _ = page
    driver.execute_script('document.getElementById("speed").value = "20";')
    press(driver, "play")
    total = state(driver)["total"]
    WebDriverWait(driver, 5, poll_frequency=0.05).until(lambda d: state(d)["index"] == total)
    assert "play" in driver.find_element(By.ID, "play").text  # paused itself at the end
