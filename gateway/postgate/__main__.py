"""``python -m postgate`` runs the command line."""

from .cli import main

main()
