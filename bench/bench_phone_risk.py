"""What the phone-risk decision adds to an SMS login, with the offline lookup.

Run: .venv/bin/python bench/bench_phone_risk.py [--rounds N]
Prints decisions per second for the pure policy (signals + decide on fixed facts: the
baseline), and for `trust.assess` (binding, lookup cache row, counts from the
database, the decision, a phone event and an audit event) on SQLite, and the ratio.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from app import create_app  # noqa: E402
from benchlib import per_second, print_table  # noqa: E402
from app.extensions import db  # noqa: E402

PHONE = "+447400123456"




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    app = create_app({"ENV": "development", "INSTANCE_PATH": str(directory),
                      "DATABASE_URL": f"sqlite:///{directory / 'bench.db'}",
                      "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789"})
    with app.app_context():
        upgrade()
        from app.config import RiskSettings
        from app.models import utcnow
        from app.phones import trust
        from app.providers import phone_lookup
        from app.risk.phone_policy import decide
        from app.risk.signals import BindingFacts, RequestFacts, phone_signals
        from tests.factories import TEST_ORIGIN, make_customer
        customer = make_customer(phone=PHONE)
        settings = RiskSettings.from_config(app.config)
        facts = phone_lookup().lookup(PHONE)
        now = utcnow()
        binding = BindingFacts(e164=PHONE, status="active", first_verified_at=now,
                               last_verified_at=now, last_used_at=None, number_type="mobile",
                               carrier_name=None, mobile_network_code=None, blocked_until=None,
                               verified_by_other_customer_at=None)
        request = RequestFacts(purpose="login", now=now, new_device=True, sms_sent_last_hour=0,
                               sms_failures_last_day=0, last_sensitive_change_at=None)

        def pure():
            decide(phone_signals(binding, facts, request, settings), request, binding, settings)

        def full():
            trust.assess(customer, PHONE, "login", TEST_ORIGIN)
            db.session.commit()

        baseline = per_second(pure, args.rounds)
        rows = [("signals + decide (baseline)", baseline),
                ("trust.assess + commit, SQLite", per_second(full, args.rounds))]
        db.engine.dispose()
    print_table(f"{args.rounds} rounds, offline lookup, one thread", "operation", rows,
                ratio_digits=4)


if __name__ == "__main__":
    main()
