"""`queuectl dashboard`: a web page, a JSON API under `/api/` and Prometheus `/metrics`.

- `app`: builds the FastAPI application (routes, error handling, static assets).
- `security`: token authentication, cross-site request protection, security headers.
- `metrics`: a prometheus_client collector that reads the store at scrape time.
"""

__all__: list[str] = []
