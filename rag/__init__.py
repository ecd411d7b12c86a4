"""careerbot core: settings, embedding, the Qdrant store, retrieval, answers, and the
`Services` composition root that the interfaces receive.

Nothing here imports from `ingest`, `api`, `ui`, `eval` or `integrations`
(`python -m eval.imports` checks it), and nothing here reads the environment: the entry
points build one `Settings` and pass it down.
"""
