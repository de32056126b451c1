"""Adapters: external models converted to facebench's conventions at the boundary (STYLE 14).

Each adapter is one module; nothing outside it knows the model exists.
"""
