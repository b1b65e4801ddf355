"""The run folder: its layout and config.json (no torch), and the tensors it holds (checkpoint, weights)."""
