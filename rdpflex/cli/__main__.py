"""``python -m rdpflex.cli ARGS``: the ``rdpflex`` command (what ``torchrun -m rdpflex.cli`` runs)."""

from rdpflex.cli import main

main()
