"""careerbot core: settings, embedding, the Qdrant store, retrieval and answers.

Nothing here imports from `api`, `ui` or `eval`, and nothing here reads the environment:
the entry points build one `Settings` and pass it down.
"""
