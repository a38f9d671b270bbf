"""Built-in architectures, installed as ``zoo.plugins``.

Each folder is one plugin; each registers itself in pyproject.toml under the ``zoo.models``
entry-point group, exactly as a third-party package would.
"""
