"""ONNX export of a trained run as two graphs, encoder.onnx and decoder.onnx, with verification.

``genkit.onnx.export_run.export_run`` writes an export folder (``genkit.onnx.folder`` describes it);
``genkit.onnx.metadata`` defines the metadata each graph carries; ``genkit.onnx.parity`` lets plugin
authors check that their components survive export. Only ``metadata`` and ``folder`` are imported by the
torch-free runtime, so this package's ``__init__`` imports nothing.
"""
