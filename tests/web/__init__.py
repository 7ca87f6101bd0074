"""Tests of the hosted pages (app/web)."""
