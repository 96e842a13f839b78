"""The reward-model server, ``llm-train serve-reward``: an application (FastAPI on uvicorn: the ``serve``
extra) in four modules — :mod:`~llm.serve.config` (its settings), :mod:`~llm.serve.batching` (the worker that
owns the model), :mod:`~llm.serve.app` (the HTTP layer) and :mod:`~llm.serve.server` (start-up and shutdown).

Its client, what training needs, lives below training in :mod:`llm.inference.reward_client` (standard
library only): a trainer that calls a reward server imports neither FastAPI nor uvicorn, nor this package.
"""
