"""Serving: the scorer (event -> state -> features -> graph -> result) and reason codes."""
