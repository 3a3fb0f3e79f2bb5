"""The store owner's admin at /admin/: sign-in by one-time link, server-rendered pages
(Starlette's Jinja2 templates), charts drawn as inline SVG by the server."""
