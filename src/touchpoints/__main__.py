"""`python -m touchpoints`: the command line, as the installed `touchpoints` script runs it
(for environments where the script's folder is not on PATH)."""

from touchpoints.cli import main

if __name__ == "__main__":
    main()
