"""Service files that end the ways a user may end one (tests/integration/test_run_forms.py)."""
