"""The plugin contract: the four component interfaces, priors, hooks, the registry and the plugin host."""
