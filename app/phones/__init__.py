"""Everything about a customer's phone numbers as a way in, in one package:

- bindings: which customer a number can open, since when, and its append-only event log
  (bound, verified, held, suspect, released, recycled);
- sms_policy: which numbers we text at all (offline, before any code is sent);
- lookups: the phone-intelligence provider's answers, cached in the database;
- trust: before an SMS code counts, gather the facts, ask the pure policy in app/risk,
  and act on its Decision (hold, suspect, recycled);
- sweep: the periodic re-check of dormant bindings (`flask phones sweep`);
- support_actions: support releasing a binding or marking it recycled.

It sits on the floor of app/directory: it may import app/platform, app/providers,
app/risk, app/models and app/config, never app/auth, app/oidc, app/web or app/admin, which
import it.
"""
