"""Analyses: plain functions `(store, filters, options) -> JSON-ready dict`."""
