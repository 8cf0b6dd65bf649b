"""Kube adapters: the only modules that talk to the Kubernetes API or import its client."""
