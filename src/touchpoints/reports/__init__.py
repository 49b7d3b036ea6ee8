"""Period reports (HTML/PDF) built from the same analyses as the CLI and the dashboard."""
