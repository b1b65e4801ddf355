"""The model families plugin (genkit_plugins.families): references, training and resume, conformance."""
