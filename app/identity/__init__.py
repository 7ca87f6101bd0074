"""Pure functions for customer IDs and identifiers: no Flask, no database."""
