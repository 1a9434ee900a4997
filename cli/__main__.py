"""`python -m cli`: the same as the installed `catalog` script."""
from cli.main import main

main()
