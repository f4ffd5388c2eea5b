"""`cyberclaim ui` (the Streamlit workbench) and `cyberclaim user ...` (accounts, roles, case access)."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from app.cli._common import console, print_table
from case_store import CyberclaimError

MAIN = Path(__file__).resolve().parent.parent / "ui" / "main.py"
user_app = typer.Typer(no_args_is_help=True, help="Workbench users, roles (analyst, adjuster, lawyer, admin) and case access.")


def ui(port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port to listen on."),
       host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default loopback only)."),
       case: Optional[str] = typer.Option(None, "--case", help="Open this case at start."),
       single_user: bool = typer.Option(False, "--single-user", help="No sign-in; you act as admin. Loopback only."),
       lang: str = typer.Option("en", "--lang", help="Interface language at start: en | zh."),
       max_upload_mb: int = typer.Option(4096, "--max-upload-mb", min=1, help="Largest evidence upload accepted.")):
    """Start the Streamlit workbench."""
    from case_store import cases, users

    if single_user and not users.single_user_allowed(host):
        raise CyberclaimError(f"--single-user needs a loopback --host (127.0.0.1, ::1, localhost), not {host!r}")
    if not single_user and not users.has_users():
        raise CyberclaimError("no users yet: create one with `cyberclaim user add NAME --role admin` "
                              "(or use --single-user on this machine)")
    if case:
        cases.get_case(case)
    if lang not in ("en", "zh"):
        raise CyberclaimError("--lang must be en or zh")
    env = dict(os.environ, CYBERCLAIM_UI_LANG=lang, CYBERCLAIM_MAX_UPLOAD_MB=str(max_upload_mb))
    env.pop("CYBERCLAIM_UI_SINGLE_USER", None)
    if single_user:
        env["CYBERCLAIM_UI_SINGLE_USER"] = "1"
    if case:
        env["CYBERCLAIM_UI_CASE"] = case
    cmd = [sys.executable, "-m", "streamlit", "run", str(MAIN), "--server.address", host, "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
           "--server.maxUploadSize", str(max_upload_mb), "--server.fileWatcherType", "none",
           "--server.enableXsrfProtection", "true", "--client.toolbarMode", "minimal"]
    console.print(f"cyberclaim workbench on http://{host}:{port}" + (" (single-user)" if single_user else ""))
    sys.stdout.flush()
    sys.stderr.flush()
    # become the server (exec, not a child): a service manager's or a user's SIGTERM to `cyberclaim ui`
    # must stop the server, not leave it running as an orphan
    os.execve(sys.executable, cmd, env)


def _password(password: Optional[str]) -> str:
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@user_app.command("add")
def user_add(name: str, role: str = typer.Option(..., "--role", help="analyst | adjuster | lawyer | admin"),
             password: Optional[str] = typer.Option(None, "--password", help="Prompted (hidden) when not given.")):
    """Create a user (password hashed with argon2id)."""
    from case_store import users

    users.add_user(name, role, _password(password))
    console.print(f"user {name} ({role}) added")


@user_app.command("list")
def user_list():
    """Users, roles and the cases each may open."""
    from case_store import users

    rows = []
    for u in users.list_users():
        rows.append((u.username, u.role, "all" if u.role == "admin" else ", ".join(c.id for c in users.visible_cases(u))))
    print_table("Users", ["user", "role", "cases"], rows)


@user_app.command("role")
def user_role(name: str, role: str):
    """Change a user's role."""
    from case_store import users

    users.set_role(name, role)
    console.print(f"{name} is now {role}")


@user_app.command("password")
def user_password(name: str, password: Optional[str] = typer.Option(None, "--password")):
    """Set a user's password."""
    from case_store import users

    users.set_password(name, _password(password))
    console.print(f"password of {name} set")


@user_app.command("remove")
def user_remove(name: str):
    """Remove a user and their case access (custody entries keep their name)."""
    from case_store import users

    users.remove_user(name)
    console.print(f"user {name} removed")


@user_app.command("grant")
def user_grant(name: str, case: str):
    """Let a user open a case."""
    from case_store import users

    users.grant(name, case)
    console.print(f"{name} may open {case}")


@user_app.command("revoke")
def user_revoke(name: str, case: str):
    """Take a case away from a user."""
    from case_store import users

    users.revoke(name, case)
    console.print(f"{name} may no longer open {case}")


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)
    app.add_typer(user_app, name="user")
