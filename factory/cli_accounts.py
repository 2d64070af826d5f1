"""``factory users`` and ``factory tokens``: accounts for the console and tokens for the API.

    factory users add alice --role admin            (password asked twice; the first admin)
    factory users add bob --role editor --password-file bob.txt
    factory users list | factory users disable bob
    factory tokens create crm --role editor --owner alice --webhook-url https://crm.example/hook
    factory tokens list | factory tokens revoke crm

Mounted lazily by ``factory.cli`` (``LAZY_COMMANDS``), so nothing here is imported for ``--help``.
"""

from __future__ import annotations

from pathlib import Path

import click

ROLE_CHOICE = click.Choice(["editor", "reviewer", "admin"])


def _store(ctx: click.Context):
    from factory.cli import load_settings
    from factory.store import JobStore

    settings = load_settings(ctx)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return JobStore(settings.resolved_database_url)


def _read_password(password_file: Path | None) -> str:
    """The first line of ``password_file``, else asked for twice (never echoed)."""
    if password_file:
        lines = password_file.read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@click.group("users")
def users() -> None:
    """Console users and their roles (editor < reviewer < admin)."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=ROLE_CHOICE, default="editor", show_default=True)
@click.option("--language", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of the console for this user.")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the password from this file's first line (else it is asked for).")
@click.pass_context
def users_add(ctx: click.Context, username: str, role: str, language: str, password_file: Path | None) -> None:
    """Add a user. There is no default account: make the first admin with --role admin."""
    from factory.identity import IdentityError, create_user

    try:
        user = create_user(_store(ctx), username, _read_password(password_file), role, language)
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {user.username} ({user.role})")


@users.command("password")
@click.argument("username")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the new password from this file's first line (else it is asked for).")
@click.pass_context
def users_password(ctx: click.Context, username: str, password_file: Path | None) -> None:
    """Give a user a new password (for one who forgot theirs)."""
    from factory.identity import IdentityError, set_password

    try:
        set_password(_store(ctx), username, _read_password(password_file))
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{username}: password changed")


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """List users: name, role, language, whether disabled."""
    from factory.identity import list_users

    for user in list_users(_store(ctx)):
        state = "disabled" if user.disabled else "active"
        click.echo(f"{user.username:<24} {user.role:<9} {user.language:<3} {state:<8} since {_when(user.created_at)}")


@users.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
@click.pass_context
def users_disable(ctx: click.Context, username: str, enable: bool) -> None:
    """Disable a user (their sessions end at once), or enable them again with --enable."""
    from factory.identity import IdentityError, disable_user

    try:
        user = disable_user(_store(ctx), username, disabled=not enable)
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{user.username} is {'disabled' if user.disabled else 'enabled'}")


@click.group("tokens")
def tokens() -> None:
    """API tokens: one per integration, scoped by role, revocable."""


@tokens.command("create")
@click.argument("name")
@click.option("--role", type=ROLE_CHOICE, default="editor", show_default=True)
@click.option("--owner", required=True, help="The person responsible for this integration.")
@click.option("--webhook-url", help="Default callback URL for the jobs this token submits.")
@click.pass_context
def tokens_create(ctx: click.Context, name: str, role: str, owner: str, webhook_url: str | None) -> None:
    """Create a token. Its secret and webhook secret are printed once: store them now."""
    from factory.identity import IdentityError, create_token

    try:
        token, secret = create_token(_store(ctx), name, role, owner, webhook_url=webhook_url)
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"token {token.name} ({token.role}) id {token.id}")
    click.echo(f"secret:         {secret}")
    click.echo(f"webhook secret: {token.webhook_secret}")
    click.echo("These are shown only now; the factory keeps only a hash of the secret.", err=True)


@tokens.command("list")
@click.pass_context
def tokens_list(ctx: click.Context) -> None:
    """List tokens (never their secrets)."""
    from factory.identity import list_tokens

    for token in list_tokens(_store(ctx)):
        state = f"revoked {_when(token.revoked_at)}" if token.revoked_at else "active"
        click.echo(f"{token.id}  {token.name:<20} {token.role:<9} owner {token.owner:<16} "
                   f"last used {_when(token.last_used_at):<16} {state}")


@tokens.command("revoke")
@click.argument("token")
@click.pass_context
def tokens_revoke(ctx: click.Context, token: str) -> None:
    """Revoke a token (by id or name): it is refused from the next request on."""
    from factory.identity import IdentityError, find_token, revoke_token

    store = _store(ctx)
    found = find_token(store, token)
    if found is None:
        raise click.ClickException(f"There is no token {token!r} (see factory tokens list).")
    try:
        revoked = revoke_token(store, found.id)
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {revoked.name}")
