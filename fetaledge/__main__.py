"""``python -m fetaledge`` (also what ``torchrun -m fetaledge`` runs)."""

from fetaledge.cli import main

main()
