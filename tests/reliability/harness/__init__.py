"""Reliability harness: seed corpus, mutators, a subprocess fuzz runner, process probes."""
