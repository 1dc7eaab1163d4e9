"""Command line: watchapp demo | server | app | seed | import-districts | backup |
restore | export | admin.

Operator-facing messages are English; everything a volunteer reads is in
watchapp/strings.py.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import uuid
import webbrowser
from collections.abc import Coroutine
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from watchapp import seed
from watchapp.domain.model import Role
from watchapp.domain.rules import local_date
from watchapp.domain.validation import NAME_MAX_CHARS, check_text, clean_text
from watchapp.server.auth import INVITATION_HOURS, digest, new_code
from watchapp.server.serving import BODY_TIMEOUT, HEAD_TIMEOUT, LIMIT_CONCURRENCY
from watchapp.server.store import (
    ServerStore,
    open_store,
    restore_store,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _server_app(
    db: str | Path, trusted_proxies: list[str] | None = None
) -> tuple[ServerStore, Any]:
    """The store at ``db`` (a SQLite file or a postgresql:// URL), its app."""
    from watchapp.server import create_app

    store = open_store(db)
    return store, create_app(store, trusted_proxies=trusted_proxies or ())


def _serve(main: Coroutine[Any, Any, None]) -> None:
    """Run the servers. Everything built so far (the app, its routes, the
    modules) is moved out of the garbage collector's sight first: a push makes
    thousands of small objects, and each collection would walk the rest again
    (bench/NOTES.md)."""
    gc.freeze()
    asyncio.run(main)


def invite(store: ServerStore, user_id: str) -> str:
    code = new_code()
    now = _now()
    store.create_invitation(
        user_id=user_id,
        code_hash=digest(code),
        now=now,
        expires_at=now + timedelta(hours=INVITATION_HOURS),
    )
    return code


def pretty_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


# ---- demo -------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from watchapp.app import Devices, web_app
    from watchapp.server.serving import serve

    folder = Path(args.data)
    folder.mkdir(parents=True, exist_ok=True)
    store, council = _server_app(folder / "council.sqlite")
    if not store.bodies("districts"):
        print("Seeding the demo city (46 districts)...", flush=True)
        city = seed.demo_city(seed=args.seed, today=local_date(_now()))
        seed.serve_city(store, city)
    accounts = seed.demo_accounts(store, now=_now())
    server_url = f"http://{args.host}:{args.server_port}"
    app_url = f"http://{args.host}:{args.port}/"
    print("\nwatchapp demo")
    print(f"  council server: {server_url}  (OpenAPI: {server_url}/openapi.json)")
    print(f"  app:            {app_url}")
    print("  Each browser profile is its own device. Enrol one with a code below:")
    for role, label in (
        (Role.VOLUNTEER, "volunteer"),
        (Role.ORGANISER, "salon organiser"),
        (Role.COORDINATOR, "coordinator"),
    ):
        account = accounts[role]
        code = invite(store, account.user_id)
        print(f"    {label:16} {pretty_code(code)}   ({account.name})")
    print(f"  Codes are single-use and valid for {INVITATION_HOURS} h.")
    print(f"  Data lives in {folder}/ (delete it to start afresh). Ctrl+C stops.\n")
    if os.environ.get("DISPLAY") and not os.environ.get("CI"):
        webbrowser.open(app_url)
    devices = Devices(folder=folder / "devices")
    app = web_app(devices, args.lang, server_url)

    async def both() -> None:
        await asyncio.gather(
            serve(council, host=args.host, port=args.server_port),
            serve(app, host=args.host, port=args.port),
        )

    _serve(both())
    return 0


# ---- the parts ----------------------------------------------------------------


def cmd_server(args: argparse.Namespace) -> int:
    from watchapp.server.serving import serve

    _, council = _server_app(args.db, args.trusted_proxy)
    print(f"council server on http://{args.host}:{args.port}", flush=True)
    _serve(
        serve(
            council,
            host=args.host,
            port=args.port,
            head_timeout=args.head_timeout,
            body_timeout=args.body_timeout,
            limit_concurrency=args.limit_concurrency,
        )
    )
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    from watchapp.app import Devices, default_db_path, web_app
    from watchapp.server.serving import serve

    devices = Devices(single=Path(args.db) if args.db else default_db_path())
    print(f"app on http://{args.host}:{args.port}/", flush=True)
    app = web_app(devices, args.lang, args.server_url)
    _serve(serve(app, host=args.host, port=args.port))
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    store = open_store(args.db)
    existing = seed.district_ids(store)
    city = seed.demo_city(
        seed=args.seed,
        today=date.fromisoformat(args.today) if args.today else local_date(_now()),
        districts=existing or None,
    )
    seed.serve_city(store, city)
    counts = ", ".join(f"{t}: {len(rows)}" for t, rows in city.tables.items())
    print(f"seeded {args.db}: {counts}")
    return 0


def cmd_import_districts(args: argparse.Namespace) -> int:
    try:
        names = seed.read_district_csv(Path(args.file))
    except (OSError, seed.DistrictFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = open_store(args.db)
    if store.bodies("districts"):
        print(f"error: {args.db} already has districts", file=sys.stderr)
        return 2
    records = []
    for i, name in enumerate(names, start=1):
        district_id = f"district-{i:03d}"
        records.append(
            {
                "kind": "districts",
                "id": district_id,
                "deleted": False,
                "district_id": district_id,
                "name": name,
            }
        )
    store.write_server_records(records, now=_now())
    print(f"imported {len(names)} districts into {args.db}; now: watchapp seed")
    return 0


# ---- backup --------------------------------------------------------------------


def cmd_backup(args: argparse.Namespace) -> int:
    """An online backup: devices may go on pushing meanwhile."""
    store = open_store(args.db)
    try:
        store.backup(Path(args.out))
    finally:
        store.close()
    print(f"backed up {args.db} to {args.out}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Bring a backup back (the server stopped). Devices notice on their next
    sync, send again what of theirs the backup lacks, and pull afresh."""
    if not Path(args.backup).is_file():
        print(f"error: no backup at {args.backup}", file=sys.stderr)
        return 2
    restore_store(Path(args.backup), args.db)
    print(f"restored {args.db} from {args.backup}; devices will send theirs again")
    return 0


# ---- export --------------------------------------------------------------------


def cmd_export_salons(args: argparse.Namespace) -> int:
    """The yearly salon report with its grants, from the council's records."""
    from watchapp.reports import council
    from watchapp.strings import reports

    rules_file = Path(args.rules) if args.rules else council.DEFAULT_RULES
    try:
        rule = council.rule_for(council.load_rules(rules_file), args.year)
    except council.GrantRulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except council.NoGrantRule as exc:
        print(f"error: {rules_file}: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if not out.parent.is_dir():
        print(f"error: no folder {out.parent} to write into", file=sys.stderr)
        return 2
    headings = (reports.EN if args.lang == "en" else reports.JA).salon_report
    store = open_store(args.db)
    try:
        report = council.council_report(store, rule, headings=headings)
        council.write_report(report, out, council.Format(args.format))
        store.record_admin_action(
            actor="cli",
            action="export_salon_report",
            subject=council.filename(args.year, council.Format(args.format)),
            now=_now(),
        )
    finally:
        store.close()
    salons = len(report.sheets) - 1
    print(f"wrote {out}: fiscal year {args.year}, {salons} salons")
    return 0


# ---- admin --------------------------------------------------------------------


def cmd_admin(args: argparse.Namespace) -> int:
    store = open_store(args.db)
    if args.action == "create-user":
        name = clean_text(args.name)
        if check_text("name", name, max_chars=NAME_MAX_CHARS, required=True):
            print(f"error: a name needs 1 to {NAME_MAX_CHARS} plain characters")
            return 2
        known = {json.loads(b)["id"]: json.loads(b) for b in store.bodies("groups")}
        group = known.get(args.group)
        if group is None:
            print(f"error: no group {args.group}", file=sys.stderr)
            return 2
        districts = args.districts.split(",") if args.districts else []
        account = store.create_user(
            user_id=str(uuid.uuid4()),
            name=name,
            role=Role(args.role),
            district_id=group["district_id"],
            group_id=group["id"],
            districts=districts,
            now=_now(),
        )
        store.record_admin_action(
            actor="cli", action="create_user", subject=account.user_id, now=_now()
        )
        print(account.user_id)
    elif args.action == "invite":
        invited = store.account(args.user)
        if invited is None:
            print(f"error: no user {args.user}", file=sys.stderr)
            return 2
        code = invite(store, invited.user_id)
        store.record_admin_action(
            actor="cli", action="invite", subject=invited.user_id, now=_now()
        )
        print(f"invitation for {invited.name} ({invited.role.value}):")
        print(f"  {pretty_code(code)}")
        print(f"single use, valid for {INVITATION_HOURS} hours")
        import segno

        segno.make(code, error="m").terminal(compact=True)
    elif args.action == "revoke":
        if not store.revoke_device(args.device, now=_now()):
            print(f"error: no active device {args.device}", file=sys.stderr)
            return 2
        store.record_admin_action(
            actor="cli", action="revoke", subject=args.device, now=_now()
        )
        print(f"revoked {args.device}: it gets 401 and wipes its personal data")
    elif args.action == "audit":
        for e in store.audit(limit=args.limit):
            what = f"{e.kind} {e.record_id}" if e.kind else e.record_id
            print(f"{e.at}\t{e.user_id}\t{e.device_id or '-'}\t{e.action}\t{what}")
    elif args.action == "users":
        for a in store.accounts():
            devices = ",".join(store.device_ids(a.user_id)) or "-"
            print(f"{a.user_id}\t{a.role.value}\t{a.name}\tdevices: {devices}")
    return 0


def _proxy(value: str) -> str:
    from watchapp.server.limiter import parse_proxies

    try:
        parse_proxies([value])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="watchapp", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def served(sp: argparse.ArgumentParser, port: int) -> None:
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, default=port)

    demo = sub.add_parser("demo", help="council server + app on a seeded demo city")
    demo.add_argument("--data", default="var/demo", help="folder for the demo files")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--server-port", type=int, default=8600)
    demo.add_argument("--lang", choices=["ja", "en"], default="ja")
    served(demo, 8550)
    demo.set_defaults(run=cmd_demo)

    server = sub.add_parser("server", help="the council server")
    server.add_argument("--db", required=True)
    server.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        type=_proxy,
        metavar="ADDR",
        help="a reverse proxy's address or network whose X-Forwarded-For is "
        "believed (repeatable); without one, clients are told apart by the "
        "address they connect from",
    )
    server.add_argument(
        "--head-timeout",
        type=float,
        default=HEAD_TIMEOUT,
        metavar="S",
        help="close a connection whose request head is not in within S seconds",
    )
    server.add_argument(
        "--body-timeout",
        type=float,
        default=BODY_TIMEOUT,
        metavar="S",
        help="answer 408 to a request whose body is not in within S seconds",
    )
    server.add_argument(
        "--limit-concurrency",
        type=int,
        default=LIMIT_CONCURRENCY,
        metavar="N",
        help="answer 503 beyond N connections or requests at once",
    )
    served(server, 8600)
    server.set_defaults(run=cmd_server)

    app = sub.add_parser("app", help="the app in the browser over one device file")
    app.add_argument(
        "--db", help="device file (default: the phone's app data, else var/)"
    )
    app.add_argument("--server-url", default="", help="offered on the first run")
    app.add_argument("--lang", choices=["ja", "en"], default="ja")
    served(app, 8550)
    app.set_defaults(run=cmd_app)

    s = sub.add_parser("seed", help="write the demo city into a council database")
    s.add_argument("--db", required=True)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--today", help="ISO date the history ends at (default: today)")
    s.set_defaults(run=cmd_seed)

    imp = sub.add_parser("import-districts", help="a real district list (CSV)")
    imp.add_argument("file", help="CSV with a 'name' column")
    imp.add_argument("--db", required=True)
    imp.set_defaults(run=cmd_import_districts)

    bk = sub.add_parser("backup", help="a consistent online backup of the council")
    bk.add_argument("--db", required=True, help="the council database")
    bk.add_argument("--out", required=True, help="the backup file to write")
    bk.set_defaults(run=cmd_backup)
    rs = sub.add_parser("restore", help="bring a backup back (server stopped)")
    rs.add_argument("--db", required=True, help="the council database to replace")
    rs.add_argument("--from", dest="backup", required=True, help="the backup file")
    rs.set_defaults(run=cmd_restore)

    export = sub.add_parser("export", help="reports from the council's records")
    reports = export.add_subparsers(dest="report", required=True)
    ex = reports.add_parser("salons", help="the yearly salon report, with grants")
    ex.add_argument(
        "--year", type=int, required=True, help="fiscal year (April to March)"
    )
    ex.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    ex.add_argument("--db", required=True, help="a SQLite file or postgresql:// URL")
    ex.add_argument("--out", required=True, help="the file to write")
    ex.add_argument(
        "--rules", help="grant rules, JSON (default: watchapp/data/grants.json)"
    )
    ex.add_argument("--lang", choices=["ja", "en"], default="ja")
    ex.set_defaults(run=cmd_export_salons)

    admin = sub.add_parser("admin", help="users, invitations and devices")
    admin.add_argument("--db", required=True, help="the council database")
    actions = admin.add_subparsers(dest="action", required=True)
    cu = actions.add_parser("create-user")
    cu.add_argument("--name", required=True)
    cu.add_argument("--role", choices=[r.value for r in Role], required=True)
    cu.add_argument("--group", required=True, help="group id (sets the district)")
    cu.add_argument("--districts", help="comma-separated, for coordinators")
    inv = actions.add_parser("invite", help="a one-time code (and QR) for a user")
    inv.add_argument("user")
    rev = actions.add_parser("revoke", help="revoke a device")
    rev.add_argument("device")
    actions.add_parser("users", help="list users and their devices")
    aud = actions.add_parser("audit", help="who changed what, newest first")
    aud.add_argument("--limit", type=int, default=100)
    admin.set_defaults(run=cmd_admin)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
