"""The demo: a Brazilian tyre retailer's year of touchpoint events (`touchpoints demo-data`)
and a live trickle of service contacts for the dashboard (`touchpoints demo-serve`).

It sits beside the connectors: like a channel, it only produces events. The product never
depends on it; the CLI wires it in.
"""

from touchpoints.demo.data import generate
from touchpoints.demo.story import COMMENTS, ROSTER, TP

__all__ = ["COMMENTS", "ROSTER", "TP", "generate"]
