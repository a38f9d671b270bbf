"""What users do with trained runs beside sampling: ``bench`` (``zoo bench``), ``compare``
(``zoo compare``), ``report`` (``zoo report``) and ``latent`` (reconstruct, interpolate,
traverse, encode, decode).
"""
