"""Measuring a trained run: ``evaluate`` (``zoo evaluate``) over the likelihood bounds
(``likelihood``), sample quality (``sample_quality``: FID, KID, IS, PRDC) and sequence
forecasts (``forecast``); ``catalog`` records the results in ``registry.json``.
"""
