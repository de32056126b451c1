"""Adapters: one module per external model or dataset, converting its conventions to SPEC's."""
