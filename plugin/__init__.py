"""shopreco's plugin package: the data layer, the engine, the shared HTTP pieces, the owner and
developer surfaces and the composition of the app. Top to bottom (docs/architecture.md; enforced
by the import-linter contract in pyproject.toml):

    cli -> commands -> demo -> server -> app -> worker -> api
        -> webhooks | widgets (top-level packages) -> engine | web -> store -> config
        -> recommender (top-level package)

Each layer may import only the layers below it. Modules here: app (routes and lifespan),
server (uvicorn), worker (ingestion, retraining, reconciliation loops), cli (the console
entry), config (settings), progress (a progress line).
"""
