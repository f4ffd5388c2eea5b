"""One clear line and a non-zero exit for problems the user can act on; never a traceback."""
from __future__ import annotations

import sys

import typer
from typer._click.exceptions import ClickException
from typer.exceptions import Exit
from sqlalchemy.exc import SQLAlchemyError

from case_store import CyberclaimError


def run_cli(app: typer.Typer) -> int:
    try:
        rc = app(standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except Exit as e:
        return getattr(e, "exit_code", 1)
    except ClickException as e:
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()
            return 0
        msg = " ".join(e.format_message().split())
        print(f"cyberclaim: error: {msg} (see --help)", file=sys.stderr)
        return e.exit_code
    except (CyberclaimError, SQLAlchemyError) as e:
        msg = str(getattr(e, "orig", None) or e).splitlines()[0]
        print(f"cyberclaim: error: {msg}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"cyberclaim: error: {e.filename}: no such file or directory", file=sys.stderr)
        return 2
    except PermissionError as e:
        print(f"cyberclaim: error: {e.filename}: permission denied", file=sys.stderr)
        return 2
    except IsADirectoryError as e:
        print(f"cyberclaim: error: {e.filename}: is a directory", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cyberclaim: interrupted", file=sys.stderr)
        return 130
