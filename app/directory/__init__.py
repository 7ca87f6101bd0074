"""The customer directory: customers, their identifiers and linked accounts
(customers.py), adding, confirming and removing a phone or email with the "last way in"
rule (identifier_changes.py), merges and aliases (customer_merge.py), erasure and
delete-my-account (erasure.py), the data export (data_export.py) and communication
consents (communication_consents.py).

Services take plain arguments and change the database in the caller's transaction: the
view, admin endpoint or CLI command commits once (the daily erasure purge, which commits
per customer, says why). They build on app/identity (pure rules), app/platform, app/phones
and app/auth; nothing here imports app/web or app/admin, which call it.
"""
