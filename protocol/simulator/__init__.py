"""Stress simulation for protocol designers (issue 6): price-path generators so far."""
