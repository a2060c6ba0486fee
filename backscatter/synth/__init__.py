"""Backscatter scene simulator, threat library, dataset builder and threat image projection."""
