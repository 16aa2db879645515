"""`assistant serve` in a real browser (Debian's chromium via Playwright), and gradio_client.

The server is a subprocess on a free loopback port with a temporary index seeded from seeds/.
Screenshots of every step are saved under a temporary folder; the path is printed (pytest -s).
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT = 300  # seconds for the model, the seed and gradio on a cold, busy machine

MEETING = "How long did the meeting between Austin and Dong Jun last?"
LIGHTHOUSE_TITLE = "Harbour town restores its 1870 lighthouse"
LIGHTHOUSE = f"""TITLE: {LIGHTHOUSE_TITLE}
DATE: 2024-06-02

The town council of Porthvale reopened its restored lighthouse on Saturday after a two-year renovation.

The restoration cost 2.4 million euros and was paid for mostly by a regional heritage fund. Engineers replaced the rusted iron lantern room with a copy forged in Wales.

A plaque by the door reads "<b>Built 1870</b>". The keeper's cottage will become a small museum about the fishing fleet, Mayor Elin Carrow said.
"""


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        reason = "the browser tests need Debian's chromium at /usr/bin/chromium: apt-get install -y chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`assistant serve` on a free port with a fresh index (seeded from seeds/); yields its URL."""
    folder = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ASSISTANT_")}
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "serve", "--port", str(port), "--index-dir", str(folder / "index")],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while f"ready on http://127.0.0.1:{port}" not in (folder / "serve.log").read_text():
            if process.poll() is not None:
                pytest.fail(f"assistant serve exited with {process.returncode}:\n{(folder / 'serve.log').read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"assistant serve was not ready on {url}:\n{(folder / 'serve.log').read_text()}")
            time.sleep(0.5)
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    print(f"\nscreenshots: {folder}")


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    page.set_default_timeout(60_000)
    page.goto(server)
    page.locator("#question textarea").wait_for()
    yield page
    page.close()


def ask(page, question: str):
    """Ask in the chat and wait for the answer; returns the answer's Sources block (or None)."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Chat").click()
    answers = page.locator("#chatbot .bot-row")
    before = answers.count()
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")
    expect(answers).to_have_count(before + 1)
    # The chat is done when the textbox is editable again (it is locked while the answer streams).
    expect(page.locator("#question textarea")).to_be_editable()
    return answers.last


def open_sources(answer):
    from playwright.sync_api import expect

    answer.locator(".thought-group .title", has_text="Sources (").click()
    expect(answer.locator("mark").first).to_be_visible()
    # The block slides open: wait until it has grown past the last quote, so the screenshot shows it.
    block, last_mark = answer.locator(".thought-group .content"), answer.locator("mark").last
    last_mark.page.wait_for_function(
        "([block, mark]) => block.getBoundingClientRect().bottom >= mark.getBoundingClientRect().bottom",
        arg=[block.element_handle(), last_mark.element_handle()])
    return [" ".join(mark.split()) for mark in answer.locator("mark").all_inner_texts()]


def upload(page, *paths: Path) -> None:
    page.get_by_role("tab", name="Articles").click()
    page.locator("#upload input[type=file]").set_input_files([str(p) for p in paths])


def test_browser_answers_a_seed_question_with_highlighted_sources(page, seeded, screenshots):
    from playwright.sync_api import expect

    expected = seeded.ask(MEETING)
    page.screenshot(path=screenshots / "01-empty-chat.png")
    expect(page.get_by_text("Where was the meeting held?")).to_be_visible()  # an example question

    answer = ask(page, MEETING)
    expect(answer.locator(".answer-text")).to_contain_text("75 -minute meeting")
    expect(answer.locator(".answer-text .cite")).to_have_text([f"[{c.n}]" for c in expected.citations])
    page.screenshot(path=screenshots / "02-seed-answer.png")

    assert open_sources(answer) == [c.quote for c in expected.citations]
    expect(answer.locator(".source-title").first).to_contain_text(expected.citations[0].title)
    page.screenshot(path=screenshots / "03-sources-open.png")


def test_gradio_client_round_trip(server, seeded, seeded_dir, cli):
    from gradio_client import Client

    client = Client(server, verbose=False)
    result = cli("ask", MEETING, "--json", "--index-dir", seeded_dir)
    assert client.predict(MEETING, api_name="/ask") == json.loads(result.output)

    history = [{"role": "user", "content": MEETING}, {"role": "assistant", "content": seeded.ask(MEETING).answer}]
    follow_up = "And who spoke for the Chinese side afterwards?"
    answer = client.predict(follow_up, 3, [], history, api_name="/ask")
    assert answer == seeded.ask(follow_up, history, k=3).to_json()

    messages = client.predict(MEETING, 5, [], api_name="/chat")
    assert messages[0]["content"].count("<mark>") == 0 and "75 -minute meeting" in messages[0]["content"]
    assert messages[1]["metadata"]["title"].startswith("Sources (")


def test_browser_upload_ask_and_remove_an_article(page, tmp_path, screenshots):
    from playwright.sync_api import expect

    article = tmp_path / "lighthouse.txt"
    article.write_text(LIGHTHOUSE)
    upload(page, article)
    expect(page.locator("#status")).to_contain_text(f"Added {LIGHTHOUSE_TITLE}")
    table = page.locator("#articles")
    expect(table.get_by_text(LIGHTHOUSE_TITLE)).to_be_visible()
    expect(table.get_by_text("upload:lighthouse.txt")).to_be_visible()
    # The stored text is shown as text: the article's markup is not interpreted.
    expect(page.locator("#article-view")).to_contain_text('A plaque by the door reads "<b>Built 1870</b>".')
    page.screenshot(path=screenshots / "04-uploaded.png")

    answer = ask(page, "How much did the lighthouse restoration cost?")
    expect(answer.locator(".answer-text")).to_contain_text("2.4 million euros")
    assert any("2.4 million euros" in quote for quote in open_sources(answer))
    expect(answer.locator(".source-title").first).to_contain_text(LIGHTHOUSE_TITLE)
    expect(answer.locator(".source-meta").first).to_have_text("upload:lighthouse.txt")
    page.screenshot(path=screenshots / "05-answer-from-upload.png")

    page.get_by_role("tab", name="Articles").click()
    table.get_by_text(LIGHTHOUSE_TITLE).click()
    expect(page.locator("#article-view")).to_contain_text("Porthvale")
    page.locator("#remove").click()
    expect(page.locator("#status")).to_contain_text(f"Removed {LIGHTHOUSE_TITLE}")
    expect(table.get_by_text(LIGHTHOUSE_TITLE)).to_have_count(0)
    page.screenshot(path=screenshots / "06-removed.png")

    answer = ask(page, "How much did the lighthouse restoration cost?")
    expect(answer.locator(".abstain")).to_be_visible()
    page.screenshot(path=screenshots / "07-abstains-after-removal.png")


def test_browser_bad_input_shows_a_readable_error(page, tmp_path, screenshots):
    from playwright.sync_api import expect

    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    binary = tmp_path / "image.txt"
    binary.write_bytes(bytes(range(256)) * 4)
    upload(page, empty, binary)
    status = page.locator("#status")
    expect(status).to_contain_text("Could not add empty.txt: file is empty; nothing to index")
    expect(status).to_contain_text("Could not add image.txt: looks like a binary file")
    expect(page.locator(".toast-body", has_text="Could not add empty.txt")).to_be_visible()
    page.screenshot(path=screenshots / "08-bad-file.png")

    page.get_by_role("tab", name="URL").click()
    page.locator("#url input, #url textarea").first.fill(f"http://127.0.0.1:{free_port()}/story.html")
    page.get_by_role("button", name="Fetch and add").click()
    expect(status).to_contain_text("could not fetch")
    page.locator("#url input, #url textarea").first.fill("/etc/passwd")  # not read as a server path
    page.get_by_role("button", name="Fetch and add").click()
    expect(page.locator("#url")).to_contain_text("Give the article's full address, starting with http:// or https://.")
    page.screenshot(path=screenshots / "09-bad-url.png")
    assert "Traceback" not in page.content()

    page.get_by_role("tab", name="Chat").click()
    page.locator("#question textarea").fill("   ")
    page.locator("#question textarea").press("Enter")  # a blank question is not sent
    answer = ask(page, MEETING)  # the chat keeps working
    expect(page.locator("#chatbot .bot-row")).to_have_count(1)
    expect(answer.locator(".answer-text")).to_contain_text("75 -minute meeting")
    page.screenshot(path=screenshots / "10-chat-after-errors.png")
