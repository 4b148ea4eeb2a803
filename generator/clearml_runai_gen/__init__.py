"""clearml-runai-gen: put ClearML's Kubernetes agent into any Run:ai project."""

__version__ = "0.1.0"
