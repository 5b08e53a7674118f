"""Simulators: labelled card transactions and logins, seeded, in canonical columns."""
