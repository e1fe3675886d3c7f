"""Which route a request goes to, from its path alone: requests that a middleware answers before
routing (busy, too large, too slow) are counted under their route too."""
from starlette.routing import Match, compile_path


class RouteLabels:
    """scope -> the path template of its route ("/v1/styles/{name}/thumbnail"), or "unmatched".

    Read from the OpenAPI schema (every documented route, prefixes included), the app's own
    top-level routes (docs, static files) and `unlisted` templates (routes kept out of the schema).
    """

    def __init__(self, app, unlisted=()):
        self.app, self.unlisted, self.patterns = app, unlisted, None

    def _compile(self):
        templates = [*self.app.openapi()["paths"], *self.unlisted]
        return [(compile_path(t)[0], t) for t in templates]

    def __call__(self, scope):
        if self.patterns is None:  # on first use: every router is included by then
            self.patterns = self._compile()
        path = scope["path"]
        for pattern, template in self.patterns:
            if pattern.fullmatch(path):
                return template
        for route in self.app.router.routes:
            if getattr(route, "path", None) and route.matches(scope)[0] is Match.FULL:
                return route.path
        return "unmatched"
