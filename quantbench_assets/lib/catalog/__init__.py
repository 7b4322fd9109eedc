"""Which models exist and where their base GGUF comes from: the catalog, the drop folder, the hub, PyPI wheels."""
