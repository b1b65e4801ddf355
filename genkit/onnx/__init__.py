"""ONNX export of a trained model as graphs (encoder.onnx, decoder.onnx, and prior.onnx for a network
prior), with verification.

``export_run.export_run`` writes an export folder from a run folder; ``export_model.export_model`` is
the one export path it and ``parity.check_onnx_parity`` (for plugin authors) share; ``wrappers`` holds
the modules the graphs are exported from; ``describe`` the checks a model must pass to be exported
(``describe_prior``, which ``genkit.testing`` calls too). What an export folder holds is the export
contract, ``genkit.export_contract``, which the torch-free runtime reads; nothing in this package is
imported by the runtime, and this ``__init__`` imports nothing.
"""
