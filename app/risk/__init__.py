"""Pure phone-risk rules: the facts gathered about a phone, a request and a binding turned
into signals (signals.py), and the policy that turns signals into a Decision
(phone_policy.py). No database, no Flask app, no providers: app/phones/trust.py gathers the
facts and acts on the Decision. Imports only app/config (its settings), and Flask-Babel for
the words of phone_policy.describe (English when no app is running)."""
