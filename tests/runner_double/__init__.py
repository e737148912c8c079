"""The harness's test double as a runner folder: what ``runners/<name>/`` must hold.

``tests/integration/test_new_runner.py`` copies this folder to ``runners/<name>/`` of a
copy of the repository and runs it through every command; the unit tests use it in place.
"""
