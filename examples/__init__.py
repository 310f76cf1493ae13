"""Runnable examples; the docs include them and the test suite runs them."""
