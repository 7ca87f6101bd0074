"""Customer lookups at 10,000 / 100,000 / 1,000,000 customers on PostgreSQL (issue 15, item 2).

Run: .venv/bin/python bench/million.py [--sizes 10000,100000,1000000] [--rounds N]
                                       [--postgres-url URL]
(or `make bench-lookups`). Starts a throwaway PostgreSQL from Debian's binaries
(tests/postgres.py; --postgres-url names an existing, empty server instead), migrates it with
flask_migrate, then grows the directory to each size in turn with COPY (psycopg 3's
`cursor.copy`) and, at each size, times the lookups support and login use: by customer ID,
email, phone, username and linked account (`find_customer`, the admin search; the login's
`find_by_identifier` is the same query), a bulk resolve of 500 account numbers, and the
admin listing (`app/admin/listing.py`: first page, a page deep in the middle, a status
filter, a creation window). Each figure is the median of `--rounds` calls, each call on a
different customer, printed in milliseconds with its ratio to the time at the smallest
size (issue 15's goal: within 2x at 1M). Then the EXPLAIN of every query, with the index it
uses; a sequential scan is flagged.

The data is what the app stores, made by the app's own functions: customer IDs from
`customer_ids.generate` (unique), emails through `normalize_email` / `email_match_key`,
phones (US, GB, FR, DE, typed in assorted human formats) through `normalize_phone`,
usernames (Latin, Cyrillic, Greek, Japanese; mixed case) through `normalize_username` and
`username_skeleton`, both unique indexes respected, linked accounts through
`normalize_linked_account`. Before timing, a sample of rows is read back and put through
`normalize_identifier` again, which must give exactly the stored value, match key and
skeleton. Each customer has an email, 70% a phone, 30% a username, all a billing account
and 30% a CRM account; 0.5% are locked, 0.3% merged into another, 0.3% erased (no
identifiers). Phone bindings, sessions and audit events are not generated: no lookup here
reads them.
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import bench_app

SEED = 15
BATCH = 50_000
SAMPLE = 2_000  # lookup targets kept per kind (a uniform sample of all customers so far)
START = datetime(2021, 1, 1)  # naive UTC, as the app stores it
STEP = timedelta(seconds=90)  # 1M customers span about three years

GIVEN = ["Ada", "Grace", "Alan", "Zoë", "José", "Björn", "Amélie", "Nikolai", "Mei", "Yuki",
         "Fatima", "Omar", "Priya", "Liam", "Olivia", "Noah", "Émile", "Søren", "Ana", "Kofi"]
FAMILY = ["Lovelace", "Hopper", "Turing", "Müller", "García", "Østergaard", "Dubois",
          "Ivanov", "Chen", "Sato", "Haddad", "Khan", "Patel", "Smith", "O'Brien", "Núñez",
          "Nakamura", "Mensah", "Kowalski", "Rossi"]
DOMAINS = ["Example.com", "example.org", "MAIL.example.net", "bücher.example", "post.example",
           "EXAMPLE.co.uk"]
USER_WORDS = ["Ada", "grace", "TURING", "hopper", "Pixel", "river", "Nova", "falcon", "cedar",
              "анна", "Борис", "σοφία", "Νίκος", "さくら", "たろう", "mÜller", "ǅemal", "ﬁona"]
US_AREAS = [int(a) for a in ["201", "202", "203", "205", "206", "207", "208", "209", "210", "212", "213", "214", "215", "216", "217", "218", "219", "224", "225", "228", "229", "231", "234", "239", "240", "248", "251", "252", "253", "254", "256", "260", "262", "267", "269", "270", "276", "281", "301", "302", "303", "304", "305", "307", "308", "309", "310", "312", "313", "314", "315", "316", "317", "318", "319", "320", "321", "323", "325", "330", "334", "336", "337", "339", "347", "351", "352", "360", "361", "386", "401", "402", "404", "405", "406", "407", "408", "409", "410", "412", "413", "414", "415", "417", "419", "423", "424", "425", "430", "432", "434", "435", "440", "443", "469", "478", "479", "480", "484", "501", "502", "503", "504", "505", "507", "508", "509", "510", "512", "513", "515", "516", "517", "518", "520", "530", "540", "541", "551", "559", "561", "562", "563", "567", "570", "571", "573", "574", "575", "580", "585", "586", "601", "602", "603", "605", "606", "607", "608", "609", "610", "612", "614", "615", "616", "617", "618", "619", "620", "623", "626", "630", "631", "636", "641", "646", "650", "651", "660", "661", "662", "678", "682", "701", "702", "703", "704", "706", "707", "708", "712", "713", "714", "715", "716", "717", "718", "719", "720", "724", "727", "731", "732", "734", "740", "754", "757", "760", "762", "763", "765", "770", "772", "773", "774", "775", "779", "781", "785", "786", "801", "802", "803", "804", "805", "806", "808", "810", "812", "813", "814", "815", "816", "817", "818", "828", "830", "831", "832", "843", "845", "847", "848", "850", "856", "857", "858", "859", "860", "862", "863", "864", "865", "870", "872", "901", "903", "904", "906", "907", "908", "909", "910", "912", "913", "914", "915", "916", "917", "918", "919", "920", "925", "928", "931", "936", "937", "940", "941", "949", "951", "952", "954", "956", "970", "971", "972", "973", "978", "979", "980", "985", "989"]]

CUSTOMER_COLUMNS = ("id", "customer_id", "status", "given_name", "family_name", "created_at",
                    "updated_at", "version", "required_actions", "locked_at", "lock_reason",
                    "merged_into_pk", "merged_at", "erased_at", "tokens_not_before")
IDENTIFIER_COLUMNS = ("id", "customer_pk", "kind", "value", "match_key", "skeleton",
                      "verified_at", "created_at")
LINKED_COLUMNS = ("id", "customer_pk", "system", "account_number", "created_at")


class Generator:
    """Makes customers in id order, remembering what must stay unique, and keeps a uniform
    sample of lookup targets: (what a person would type, the customer ID it finds)."""

    def __init__(self, default_region: str) -> None:
        self.random = random.Random(SEED)
        self.region = default_region
        self.customer_ids: set[str] = set()
        self.phones: set[str] = set()
        self.usernames: set[str] = set()
        self.skeletons: set[str] = set()
        self.count = 0
        self.identifier_pk = 0
        self.linked_pk = 0
        self.samples: dict[str, list[tuple[str, str]]] = {
            kind: [] for kind in ("customer_id", "email", "phone", "username", "linked")}
        self.seen = dict.fromkeys(self.samples, 0)
        self.billing_numbers: list[str] = []

    def _keep(self, kind: str, typed: str, customer_id: str) -> None:
        """Reservoir sampling: every customer so far equally likely to be a target."""
        self.seen[kind] += 1
        sample = self.samples[kind]
        if len(sample) < SAMPLE:
            sample.append((typed, customer_id))
        else:
            slot = self.random.randrange(self.seen[kind])
            if slot < SAMPLE:
                sample[slot] = (typed, customer_id)

    def _customer_id(self) -> str:
        from app.identity import customer_ids
        while True:
            customer_id = customer_ids.generate()
            if customer_id not in self.customer_ids:
                self.customer_ids.add(customer_id)
                return customer_id

    def _email(self, given: str, family: str, serial: int) -> tuple[str, str, str]:
        from app.identity.identifiers import email_match_key, normalize_email
        local = f"{given}.{family}".replace("'", "")
        local = self.random.choice((local, local.lower(), local.upper()))
        typed = f" {local}{serial}@{self.random.choice(DOMAINS)}"
        value = normalize_email(typed)
        return typed, value, email_match_key(value)

    def _phone(self) -> tuple[str, str] | None:
        """(as typed, E.164), or None if this draw was taken or invalid (draw again)."""
        from app.identity.identifiers import InvalidIdentifier, normalize_phone
        r = self.random
        pick = r.random()
        if pick < 0.6:
            area, exchange, line = r.choice(US_AREAS), r.randrange(200, 1000), r.randrange(10000)
            typed = r.choice((f"({area}) {exchange}-{line:04d}", f"{area}.{exchange}.{line:04d}",
                              f"+1 {area} {exchange} {line:04d}", f"{area}{exchange}{line:04d}"))
        elif pick < 0.8:
            digits = f"7{r.choice('1234579')}{r.randrange(10**8):08d}"
            typed = r.choice((f"+44 {digits[:4]} {digits[4:]}", f"0044 {digits}"))
        elif pick < 0.9:
            digits = f"{r.choice('67')}{r.randrange(10**8):08d}"
            typed = (f"+33 {digits[0]} {digits[1:3]} {digits[3:5]} {digits[5:7]} "
                     f"{digits[7:9]}")
        else:
            typed = f"+49 15{r.choice('12579')} {r.randrange(10**7):07d}"
        try:
            e164 = normalize_phone(typed, self.region)
        except InvalidIdentifier:
            return None
        if e164 in self.phones:
            return None
        self.phones.add(e164)
        return typed, e164

    def _username(self, serial: int) -> tuple[str, str, str] | None:
        from app.directory.customers import looks_like_customer_id
        from app.identity.identifiers import (
            InvalidIdentifier,
            normalize_username,
            username_skeleton,
        )
        r = self.random
        typed = f"{r.choice(USER_WORDS)}{r.choice(('', '.', '_', '-'))}{serial}"
        try:
            value = normalize_username(typed)
        except InvalidIdentifier:
            return None
        if looks_like_customer_id(value) or value in self.usernames:
            return None
        skeleton = username_skeleton(value)
        if skeleton in self.skeletons:
            return None
        self.usernames.add(value)
        self.skeletons.add(skeleton)
        return typed, value, skeleton

    def batch(self, size: int) -> tuple[list[tuple], list[tuple], list[tuple]]:
        """The next `size` customers: rows for customers, identifiers, linked_accounts."""
        from app.directory.customers import normalize_linked_account, normalize_name
        r = self.random
        customers, identifiers, linked = [], [], []
        for _ in range(size):
            self.count += 1
            pk = self.count
            customer_id = self._customer_id()
            created = START + STEP * pk + timedelta(microseconds=r.randrange(10**6))
            given, family = r.choice(GIVEN), r.choice(FAMILY)
            status, roll = "active", r.random()
            locked_at = lock_reason = merged_into = merged_at = erased_at = not_before = None
            names = normalize_name(given), normalize_name(family)
            if roll < 0.005:
                status, locked_at, lock_reason = "locked", created + STEP, "bench: suspected fraud"
                not_before = locked_at
            elif roll < 0.008 and pk > 1:
                status, merged_into, merged_at = "merged", r.randrange(1, pk), created + STEP
            elif roll < 0.011:
                status, erased_at, names, not_before = "erased", created + STEP, (None, None), \
                    created + STEP
            customers.append((pk, customer_id, status, *names, created, created, 1, "[]",
                              locked_at, lock_reason, merged_into, merged_at, erased_at,
                              not_before))
            if status in ("merged", "erased"):
                continue  # their identifiers and links went to the survivor, or were erased

            def identifier(kind, value, match_key, skeleton=None, pk=pk, created=created):
                self.identifier_pk += 1
                identifiers.append((self.identifier_pk, pk, kind, value, match_key, skeleton,
                                    created if r.random() < 0.9 else None, created))

            typed, value, key = self._email(given, family, pk)
            identifier("email", value, key)
            self._keep("email", typed, customer_id)
            if r.random() < 0.7:
                phone = None
                while phone is None:
                    phone = self._phone()
                identifier("phone", phone[1], phone[1])
                self._keep("phone", phone[0], customer_id)
            if r.random() < 0.3:
                user = None
                while user is None:
                    user = self._username(pk)
                identifier("username", user[1], user[1], user[2])
                self._keep("username", user[0], customer_id)
            accounts = [("billing", f"B-{pk:09d}")]
            if r.random() < 0.3:
                accounts.append(("crm", f"CRM-{r.getrandbits(48):012X}"))
            for system, number in accounts:
                system, number = normalize_linked_account(system, number)
                self.linked_pk += 1
                linked.append((self.linked_pk, pk, system, number, created))
            self._keep("linked", f"{system}:{number}", customer_id)
            self.billing_numbers.append(f"B-{pk:09d}")
            self._keep("customer_id", self._display(customer_id), customer_id)
        return customers, identifiers, linked

    def _display(self, customer_id: str) -> str:
        """A customer ID as support types it: grouped, sometimes lower case."""
        from app.identity.customer_ids import format_for_people
        shown = format_for_people(customer_id)
        return shown.lower() if self.random.random() < 0.3 else shown


def copy_rows(connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    with connection.cursor() as cursor, \
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def grow(url: str, generator: Generator, target: int) -> float:
    """COPY customers until there are `target`; returns the seconds it took."""
    import psycopg
    started = time.perf_counter()
    with psycopg.connect(url) as connection:
        while generator.count < target:
            customers, identifiers, linked = generator.batch(min(BATCH, target - generator.count))
            copy_rows(connection, "customers", CUSTOMER_COLUMNS, customers)
            copy_rows(connection, "identifiers", IDENTIFIER_COLUMNS, identifiers)
            copy_rows(connection, "linked_accounts", LINKED_COLUMNS, linked)
            connection.commit()
        for table in ("customers", "identifiers", "linked_accounts"):
            connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))")
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE customers, identifiers, linked_accounts")
    return time.perf_counter() - started


def check_sample(app, count: int = 500) -> int:
    """Read back `count` random identifiers and customers: each must be exactly what the
    app's own normalisation stores. Returns how many rows were checked; raises on a
    mismatch."""
    from app.directory.customers import normalize_identifier, normalize_linked_account
    from app.extensions import db
    from app.identity import customer_ids
    from app.models import Customer, Identifier, LinkedAccount
    checked = 0
    with app.app_context():
        for row in db.session.scalars(db.select(Identifier).order_by(db.func.random())
                                      .limit(count)):
            again = normalize_identifier(row.kind, row.value)
            assert (again.value, again.match_key, again.skeleton) == \
                (row.value, row.match_key, row.skeleton), (row.kind, row.value)
            checked += 1
        for row in db.session.scalars(db.select(Customer).order_by(db.func.random())
                                      .limit(count)):
            assert customer_ids.parse(row.customer_id) == row.customer_id
            checked += 1
        for row in db.session.scalars(db.select(LinkedAccount).order_by(db.func.random())
                                      .limit(count)):
            assert normalize_linked_account(row.system, row.account_number) == \
                (row.system, row.account_number)
            checked += 1
        db.session.rollback()
    return checked


def operations(app, generator: Generator):
    """{name: (action taking a call number, the statement's purpose)} at the current size.
    Every action checks its answer, so a fast wrong lookup cannot pass."""
    from app.admin import listing
    from app.directory.customers import customer_ids_by_linked_account, find_customer
    from app.extensions import db
    from app.models import Customer

    def finder(kind):
        sample = generator.samples[kind]

        def action(call):
            typed, customer_id = sample[call % len(sample)]
            found = find_customer(typed)
            assert found is not None and found.customer_id == customer_id, (typed, customer_id)
        return action

    def bulk(call):
        numbers = generator.random.sample(generator.billing_numbers, 500)
        found = customer_ids_by_linked_account("billing", numbers)
        assert len(found) == 500

    with app.app_context():
        middle = db.session.get(Customer, generator.count // 2)
        cursor = listing.encode_cursor(middle)
        db.session.rollback()
    window_end = START + STEP * generator.count

    def page(args_for):
        def action(call):
            query = listing.parse_query(args_for(call))
            rows = listing._fetch(query)
            assert rows, query
            [listing.customer_summary(customer) for customer in rows[:query.limit]]
        return action

    def window(call):
        # A day's sign-ups somewhere in the history.
        offset = generator.random.random() * (window_end - START - timedelta(days=1))
        after = (START + offset).replace(tzinfo=UTC)
        return {"created_after": after.isoformat(),
                "created_before": (after + timedelta(days=1)).isoformat()}

    return {
        "by customer ID": finder("customer_id"),
        "by email": finder("email"),
        "by phone": finder("phone"),
        "by username": finder("username"),
        "by linked account": finder("linked"),
        "500 account numbers": bulk,
        "listing, first page": page(lambda call: {}),
        "listing, middle page": page(lambda call: {"cursor": cursor}),
        "listing, status=locked": page(lambda call: {"status": "locked"}),
        "listing, one day": page(window),
    }


def median_ms(app, action, rounds: int) -> float:
    """Median of `rounds` calls, each in a fresh session (nothing cached between calls)."""
    from app.extensions import db
    timings = []
    with app.app_context():
        for call in range(rounds):
            started = time.perf_counter()
            action(call)
            timings.append(time.perf_counter() - started)
            db.session.rollback()
            db.session.expunge_all()
    return statistics.median(timings) * 1000


def explain(app, action) -> list[tuple[str, list[str]]]:
    """The EXPLAIN (ANALYZE) of each statement one call of `action` runs."""
    from sqlalchemy import event

    from app.extensions import db
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            action(0)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        db.session.rollback()
        plans = []
        with engine.connect() as connection:
            for statement, parameters in statements:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                result = connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + statement,
                    parameters)
                plans.append((" ".join(statement.split()), [line for line, in result]))
    return plans


_INDEX_RE = re.compile(r"(?:Index(?: Only)? Scan(?: Backward)? using|Bitmap Index Scan on) (\w+)")


_FILTERED_RE = re.compile(r"Rows Removed by Filter: (\d+)")


def indexes_used(plans) -> str:
    """The indexes the plans read, a sequential scan flagged, and how many rows a filter
    threw away after the index (the work an index condition did not bound)."""
    names, filtered = [], 0
    for _, lines in plans:
        for line in lines:
            names += _INDEX_RE.findall(line)
            if "Seq Scan on" in line:
                names.append("SEQ SCAN " + line.split("Seq Scan on", 1)[1].split()[0])
            filtered += sum(int(n) for n in _FILTERED_RE.findall(line))
    return ", ".join(dict.fromkeys(names)) + (f" (filter dropped {filtered:,} rows)"
                                              if filtered else "")


def start_database(given_url: str | None):
    """(URL of an empty database, the server to stop or None)."""
    from tests.postgres import PostgresServer, create_database
    server = None
    if given_url is None:
        server = PostgresServer().start()
        given_url = server.url
    return create_database(given_url, "tessera_million"), server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="customer counts, ascending, comma-separated")
    parser.add_argument("--rounds", type=int, default=300, help="calls per median")
    parser.add_argument("--postgres-url", help="an existing server (default: start one)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if sizes != sorted(sizes):
        parser.error("--sizes must be ascending: the directory only grows")

    url, server = start_database(args.postgres_url)
    try:
        from flask_migrate import upgrade
        app = bench_app(DATABASE_URL=url)
        with app.app_context():
            upgrade()
        generator = Generator(app.config["DEFAULT_REGION"])
        results: dict[str, list[float]] = {}
        plans_at: dict[int, dict[str, list]] = {}
        for size in sizes:
            seconds = grow(url, generator, size)
            checked = check_sample(app)
            print(f"{size:>9,} customers: grown in {seconds:6.1f} s (COPY, then VACUUM "
                  f"ANALYZE); {checked} sampled rows re-normalised by the app: identical",
                  flush=True)
            actions = operations(app, generator)
            plans_at[size] = {}
            for name, action in actions.items():
                median_ms(app, action, 20)  # warm up: connection pool, prepared statements
                results.setdefault(name, []).append(median_ms(app, action, args.rounds))
                plans_at[size][name] = explain(app, action)
        report(sizes, results, plans_at, args.rounds)
    finally:
        if server is not None:
            server.stop()


def report(sizes, results, plans_at, rounds) -> None:
    largest = sizes[-1]
    width = max(len(name) for name in results)
    print(f"\nLookups on PostgreSQL: median ms of {rounds} calls (each on another customer), "
          f"ratio to {sizes[0]:,}")
    heading = "".join(f"{size:>12,}" for size in sizes)
    print(f"{'operation':{width}}{heading}{'ratio':>8}  index at {largest:,}")
    for name, timings in results.items():
        cells = "".join(f"{ms:12.3f}" for ms in timings)
        print(f"{name:{width}}{cells}{timings[-1] / timings[0]:8.2f}  "
              f"{indexes_used(plans_at[largest][name])}")
    print(f"\nEXPLAIN (ANALYZE, COSTS OFF) at {largest:,} customers, one call of each")
    for name, plans in plans_at[largest].items():
        print(f"\n== {name}")
        for statement, lines in plans:
            print("  " + (statement if len(statement) <= 160 else statement[:157] + "..."))
            for line in lines:
                print("    " + (line if len(line) <= 200 else line[:197] + "..."))


if __name__ == "__main__":
    main()
