"""The person's own page walked in a real headless Chromium, on a phone-sized screen:
sign in, read the sources, upload an export with the progress bar, say two spellings are
one, and open the year in review (a CJK-heavy year: its charts must draw every name).

The app runs under uvicorn on 127.0.0.1 (a free port); Debian's chromium must be at
/usr/bin/chromium (CI installs it); without it this test fails, it does not skip.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from mca_pipeline.analysis.insights import recompute_user
from mca_pipeline.analysis.sources import Sources
from mca_pipeline.auth import Vault, VaultCredentialStore
from mca_pipeline.auth.sign_in import issue_token
from mca_pipeline.auth.web_app import create_app
from mca_pipeline.core import MediaItem
from mca_pipeline.plugins import build_registry
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.export_folders import ExportFolders
from mca_pipeline.warehouse.metrics import set_user_timezone
from mca_pipeline_tests.analysis.test_charts_and_report import SVG_LAYOUT
from mca_pipeline_tests.auth.test_connect_in_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    serve_in_thread,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PHONE = {"width": 390, "height": 844}
START = datetime(2024, 3, 1, 11, 0, tzinfo=UTC)
ARTISTS = ("YOASOBI", "周杰倫", "아이유", "米津玄師", "BTS", "Ado")


def cjk_year() -> dict[str, list[MediaItem]]:
    """A Seoul listener's 2024: songs by six artists (five written in CJK or Hangul), each
    scrobbled to Last.fm under another spelling for YOASOBI, and a Korean series."""
    spotify, lastfm, netflix = [], [], []
    for n in range(36):
        at = START + timedelta(days=n * 9, minutes=n)
        artist = ARTISTS[n % len(ARTISTS)]
        spotify.append(
            MediaItem(
                platform="spotify_export",
                type="music",
                title=f"曲 {n % 7}",
                creator=artist,
                consumed_at=at,
                time_spent=timedelta(seconds=200),
                external_id=f"s{n}",
            )
        )
        lastfm.append(
            MediaItem(
                platform="lastfm",
                type="music",
                title=f"曲 {n % 7}",
                creator="ヨアソビ" if artist == "YOASOBI" else artist,
                consumed_at=at + timedelta(seconds=30),
                external_id=f"l{n}",
            )
        )
    for n in range(4):
        netflix.append(
            MediaItem(
                platform="netflix",
                type="video",
                title=f"사랑의 불시착: 시즌 1: {n + 1}화",
                consumed_at=datetime(2024, 7, 6, 11, 0, tzinfo=UTC) + timedelta(minutes=70 * n),
                time_spent=timedelta(minutes=68),
                external_id=f"n{n}",
                raw_metadata={"series": "사랑의 불시착", "season": "시즌 1"},
            )
        )
    return {"spotify_export": spotify, "lastfm": lastfm, "netflix": netflix}


def test_walk_the_own_page_on_a_phone(tmp_path: Path) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (CI does)"
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # a busy machine may be slow; nothing here is timed

    registry = build_registry()
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    folders = ExportFolders(tmp_path / "data")
    with warehouse.connect() as con:
        for platform, items in cjk_year().items():
            store_sync(
                con, SyncAttempt("mina", platform, START, "", "c", False, source=f"{platform}.json"), items
            )
        set_user_timezone(con, "mina", "Asia/Seoul")
    recompute_user(warehouse, folders.data_dir, "mina", Sources.of(registry))
    token = issue_token(warehouse, "mina")
    app = create_app(
        registry,
        warehouse,
        VaultCredentialStore(warehouse, Vault([Fernet.generate_key()])),
        folders,
        http=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))),
        public_url="http://127.0.0.1",
    )
    port = free_port()
    server, thread = serve_in_thread(app, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=PHONE)
                page.goto(base + "/login")
                page.fill("#token", token)
                page.get_by_role("button", name="Sign in").click()
                expect(page.locator("#summary")).to_contain_text("76 items from 3 sources")
                sources = page.locator("#plugin-spotify_export")
                expect(sources).to_contain_text("Spotify — data download")
                expect(sources).to_contain_text("36")
                expect(page.locator("#merges")).to_contain_text("source preference")
                page.screenshot(path=str(tmp_path / "own-page.png"), full_page=True)
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"] + 1, f"the page scrolls sideways on a phone: {width}"

                # Upload through the progress bar: the file lands in the inbox, waiting.
                export = FIXTURES / "netflix" / "NetflixViewingHistory_eu.csv"
                page.set_input_files("#upload-any input[type=file]", str(export))
                page.locator("#upload-any button").click()
                expect(page.locator("#upload-status")).to_contain_text("is in your inbox")
                assert page.locator("#upload-progress").get_attribute("value") == "100"
                expect(page.locator("#imports")).to_contain_text(export.name)
                expect(page.locator("#imports")).to_contain_text("waiting to be unpacked")
                assert (folders.inbox_root / "mina" / export.name).read_bytes() == export.read_bytes()

                # Two spellings of one artist are one: the Last.fm plays of ヨアソビ join.
                page.select_option("#alias-form select", "artist")
                page.fill("#alias-form input[name=spelling]", "ヨアソビ")
                page.fill("#alias-form input[name=canonical]", "YOASOBI")
                page.locator("#alias-form button").click()
                expect(page.locator("#aliases")).to_contain_text("ヨアソビ")
                expect(page.locator("#merges")).to_contain_text("counting your aliases")

                # The year in review: every chart drawn, every name in the tables.
                page.click("a[href='/reports/2024']")
                expect(page.locator("h1")).to_contain_text("Your 2024 in media")
                for name in ("周杰倫", "아이유", "사랑의 불시착"):
                    expect(page.locator("main")).to_contain_text(name)
                charts = page.evaluate(SVG_LAYOUT)
                assert len(charts) == 5 and all(width > 0 and texts == [] for width, _, texts in charts), (
                    charts
                )
                chart_text = " ".join(page.locator("svg.chart text").all_text_contents())
                assert "周杰倫" in chart_text and "아이유" in chart_text
                page.screenshot(path=str(tmp_path / "year-2024.png"), full_page=True)
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    report = (folders.data_dir / "reports" / "mina" / "2024.html").read_text(encoding="utf-8")
    assert "ヨアソビ" not in report.split("<h2>Top artists, by hours</h2>")[1].split("</table>")[0]
