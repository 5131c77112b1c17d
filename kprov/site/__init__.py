"""The site file: its model, the one validated load every command goes through, and the meaning checks.

Kept import-free: the targets import :mod:`kprov.site.types` and :mod:`kprov.site.secrets`, and the model
imports the targets' registry.
"""
