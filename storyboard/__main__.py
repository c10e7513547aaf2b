"""`python -m storyboard` runs the command line."""

from storyboard.cli import main

main()
