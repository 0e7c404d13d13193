"""``python -m labeling`` — see labeling/cli.py."""

from labeling.cli import main

if __name__ == "__main__":
    main()
