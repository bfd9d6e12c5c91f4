"""The HTTP server: the API's routes, the OpenAPI document, the live feed and the page."""
