"""The chat UI (Gradio), mounted at "/" of the API app by `ui.app.mount_ui`."""
