from edgeyolo.cli import main

main(prog_name="edgeyolo")
