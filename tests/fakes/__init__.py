"""Fakes at the network edge: servers on 127.0.0.1 that stand in for third parties."""
