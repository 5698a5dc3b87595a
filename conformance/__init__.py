"""Checks of the code against the public reference data in ../shared/data.

Run by ./scripts/conformance (and .ci/run after the tests), never by the test
suite: a fresh clone of the project alone passes ./scripts/test without it.
"""
