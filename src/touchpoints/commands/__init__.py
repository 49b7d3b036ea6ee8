"""CLI command groups; `touchpoints.cli` builds the app from them."""
