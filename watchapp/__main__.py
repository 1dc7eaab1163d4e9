"""Command line: watchapp demo | app | seed | import-districts.

Operator-facing messages are English; everything a volunteer reads is in
watchapp/strings.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import webbrowser
from datetime import date
from pathlib import Path

from watchapp import seed, store
from watchapp.domain.ids import uuid7


def _serve(db_path: Path, host: str, port: int, lang: str) -> None:
    import uvicorn

    from watchapp.app import open_state, web_app

    state = open_state(db_path)
    url = f"http://{host}:{port}/"
    print(f"  app:    {url}", flush=True)
    if os.environ.get("DISPLAY") and not os.environ.get("CI"):
        webbrowser.open(url)
    uvicorn.run(web_app(state, lang), host=host, port=port, log_level="warning")  # type: ignore[arg-type]


def cmd_demo(args: argparse.Namespace) -> int:
    folder = Path(args.data)
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "device.sqlite"
    db = store.open_db(db_path)
    minted = uuid7(int(time.time() * 1000), os.urandom(10))
    state_device = store.ensure_device(db, minted)
    if state_device.profile is None:
        city = seed.demo_city(seed=args.seed, today=date.today())
        volunteer = seed.demo_volunteer(city)
        seed.write_city(db, seed.volunteer_scope(city, volunteer["id"]))
        store.save_profile(
            db,
            name=volunteer["name"],
            server_url="",
            invite_code="",
            user_id=volunteer["id"],
        )
    profile = store.device(db).profile
    assert profile is not None
    db.close()
    print("watchapp demo: a volunteer's phone, seeded with demo data")
    print(f"  device: {db_path} (volunteer: {profile.name})")
    print("  Stop with Ctrl+C. Start afresh with: rm -r", folder)
    _serve(db_path, args.host, args.port, args.lang)
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    _serve(Path(args.db), args.host, args.port, args.lang)
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    db = store.open_db(args.db)
    existing = [
        r["name"] for r in db.query("SELECT name FROM districts ORDER BY rowid")
    ]
    city = seed.demo_city(
        seed=args.seed,
        today=date.fromisoformat(args.today) if args.today else date.today(),
        district_names=existing or None,
    )
    if existing:
        db.execute("DELETE FROM districts")  # re-written with the seeded ids
    seed.write_city(db, city)
    counts = ", ".join(f"{t}: {len(rows)}" for t, rows in city.tables.items())
    print(f"seeded {args.db}: {counts}")
    return 0


def cmd_import_districts(args: argparse.Namespace) -> int:
    try:
        names = seed.read_district_csv(Path(args.file))
    except (OSError, seed.DistrictFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    db = store.open_db(args.db)
    with db.atomic():
        db.execute("DELETE FROM districts")
        for i, name in enumerate(names, start=1):
            district_id = f"district-{i:03d}"
            db.execute(
                "INSERT INTO districts (id, hlc, origin, deleted, district_id, name)"
                " VALUES (?, ?, 'import', 0, ?, ?)",
                [district_id, "0000000000000-00000", district_id, name],
            )
    print(f"imported {len(names)} districts into {args.db}; now run: watchapp seed")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="watchapp", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def served(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, default=8550)
        sp.add_argument("--lang", choices=["ja", "en"], default="ja")

    demo = sub.add_parser(
        "demo", help="the app on a seeded demo device, in the browser"
    )
    demo.add_argument("--data", default="var/demo", help="folder for the demo files")
    demo.add_argument("--seed", type=int, default=1)
    served(demo)
    demo.set_defaults(run=cmd_demo)

    app = sub.add_parser("app", help="the app in the browser over a device file")
    app.add_argument("--db", default="var/device.sqlite")
    served(app)
    app.set_defaults(run=cmd_app)

    s = sub.add_parser("seed", help="write the demo city into a SQLite file")
    s.add_argument("--db", required=True)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--today", help="ISO date the history ends at (default: today)")
    s.set_defaults(run=cmd_seed)

    imp = sub.add_parser("import-districts", help="use a real district list (CSV)")
    imp.add_argument("file", help="CSV with a 'name' column")
    imp.add_argument("--db", required=True)
    imp.set_defaults(run=cmd_import_districts)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
