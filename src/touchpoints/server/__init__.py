"""The HTTP side: API, webhooks, survey pages and dashboard over one `Service`."""
