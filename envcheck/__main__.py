"""``python -m envcheck`` is the same as ``envcheck``."""

from envcheck.cli import main

if __name__ == "__main__":
    main(prog_name="envcheck")
