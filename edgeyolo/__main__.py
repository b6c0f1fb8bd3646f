"""``python -m edgeyolo``: the same command line as the ``edgeyolo`` script."""

from edgeyolo.cli import main

main(prog_name="edgeyolo")
