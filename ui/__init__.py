"""The chat UI (Gradio), mounted at / by a later issue."""
