"""The Qt-free library: what happens to a finished image (metadata, history, saving, sharing)."""
