"""HTTP handlers, one module per route group: ``(Sandbox, Request) -> Response``, synchronous."""
