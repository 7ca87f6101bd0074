"""The browser fixtures, defined once for every module here: a session-scoped Playwright
started twice (once per importing module) would run inside the first one's event loop."""
from tests.web.browser import browser, page, phone_page  # noqa: F401  (fixtures)
