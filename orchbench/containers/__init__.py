"""Containers: the harness's own Docker daemon and the locally built step image."""
