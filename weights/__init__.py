"""The shipped weights and their model card (README.md), installed as package data.

Importable as `stylize_weights` so that `importlib.resources` finds the files in a wheel install
as well as in the repository."""
