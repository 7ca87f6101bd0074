"""`make demo`: Tessera and two small example apps that log in through it.

Run with `python -m app.demo` (the Makefile does). Tessera serves on http://localhost:5000 and the
two apps, "Demo shop" and "Demo support", on 5001 and 5002. Log in on one and the other
logs you in without asking again: that is single sign-on. Each app shows the ID token's
claims, with your customer ID as `sub`.
"""
