"""How OCD's tests, benchmarks and doc tools start a browser: Debian's Chromium (never one
downloaded at run time), headless, with nothing that reaches for the network by itself."""

#: Where Debian's ``chromium`` package installs the browser.
CHROMIUM = "/usr/bin/chromium"
#: Headless, no sandbox (CI runs as root), no QUIC, no background fetches or updates.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
