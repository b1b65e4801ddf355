"""The conformance kit (genkit.testing) run on every built-in recipe and component, and on broken ones."""
