"""The built HTML book in a headless browser: every page of _build/html loads with no console error, no
missing image, alt text that is not a file path, and no raw TeX once MathJax has run.

Needs a built book (`./dev book`), Playwright (the `pages` extra) and Debian's chromium: `./dev pages`
installs both and runs this file with SEELIKE_REQUIRE_PAGES=1, under which anything missing is a failure.
Plain `pytest` skips it (a `_build/html` left from an older build would fail it for no fault of the code
under test), unless SEELIKE_PAGES=1; then it still skips when the book or the browser is missing.

The pages are served from a local HTTP server and every request to another host is refused, so the test
also shows the book works offline (MathJax included).
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("SEELIKE_HTML", ROOT / "_build" / "html"))
# index.html only redirects to the root page (checked by test_the_book_has_pages).
PAGES = sorted(p.name for p in HTML.glob("*.html") if p.name != "index.html") if HTML.is_dir() else []
CHROMIUM = os.environ.get("SEELIKE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("SEELIKE_REQUIRE_PAGES") == "1"
WANTED = REQUIRED or os.environ.get("SEELIKE_PAGES") == "1"


def _missing() -> str | None:
    if not WANTED:
        return "the page test runs under ./dev pages (or SEELIKE_PAGES=1 pytest tests/test_pages.py)"
    if not (HTML / "index.html").is_file():
        return f"no built book in {HTML} (run ./dev book)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[pages]', or ./dev pages)"
    if not CHROMIUM:
        return "no chromium executable (apt-get install chromium, or ./dev pages)"
    return None


def _skip_or_fail():
    reason = _missing()
    if reason and REQUIRED:
        pytest.fail(f"SEELIKE_REQUIRE_PAGES=1 but {reason}")
    if reason:
        pytest.skip(reason)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    _skip_or_fail()
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


# Runs in the page once it has loaded: waits for MathJax and for every image, then reports what it found.
INSPECT = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done); img.addEventListener("error", done); setTimeout(done, 10000);
  })));
  const broken = images.filter(img => !img.complete || img.naturalWidth === 0)
                       .map(img => img.getAttribute("src"));
  const badAlt = images.filter(img => !(img.getAttribute("alt") || "").trim()
                                      || /\\.(png|jpe?g|svg|gif)$/i.test(img.getAttribute("alt")))
                       .map(img => `${img.src} alt=${JSON.stringify(img.getAttribute("alt"))}`);
  const article = (document.querySelector("article") || document.body).cloneNode(true);
  article.querySelectorAll("pre, code, script, style, mjx-container, .highlight").forEach(n => n.remove());
  const text = article.innerText;
  const near = s => JSON.stringify(text.slice(Math.max(0, text.indexOf(s) - 40), text.indexOf(s) + 40));
  const tex = ["\\\\(", "\\\\)", "\\\\[", "\\\\]", "$$"].filter(s => text.includes(s))
      .map(s => `${s} near: ${near(s)}`);
  return {broken, badAlt, tex, images: images.length,
          math: document.querySelectorAll("mjx-container").length,
          mathjax: !!(window.MathJax && MathJax.version)};
}"""


def test_the_book_has_pages():
    _skip_or_fail()
    assert {"intro.html", "01_resnets.html"} <= set(PAGES), PAGES
    assert 'url=intro.html"' in (HTML / "index.html").read_text()


@pytest.mark.parametrize("page", PAGES or ["(no built book)"])
def test_page_loads_cleanly(page, server, browser):
    context = browser.new_context()
    errors: list[str] = []
    local = server.rstrip("/")

    def route(request_route):
        if request_route.request.url.startswith(local):
            request_route.continue_()
        else:
            errors.append(f"request to another host (must work offline): {request_route.request.url}")
            request_route.abort()

    context.route("**/*", route)
    tab = context.new_page()
    tab.on("console", lambda msg: msg.type == "error" and errors.append(f"console error: {msg.text}"))
    tab.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    tab.on("requestfailed", lambda req: errors.append(f"failed to load {req.url}: {req.failure}"))
    tab.goto(f"{local}/{page}", wait_until="load", timeout=60_000)
    found = tab.evaluate(INSPECT)
    tab.wait_for_timeout(200)  # late console messages
    context.close()
    problems = errors + [f"missing image: {src}" for src in found["broken"]]
    problems += [f"alt text is empty or a file path: {alt}" for alt in found["badAlt"]]
    problems += [f"raw TeX in the rendered text: {tex}" for tex in found["tex"]]
    assert not problems, f"{page}:\n  " + "\n  ".join(dict.fromkeys(problems))
