"""The OpenAI backend: the Images API or an OpenAI-compatible server.

`client` sends requests (the `openai` SDK, imported only when a request is made), `errors` maps
the SDK's errors to the runner's failures. Importing this package imports neither.
"""
