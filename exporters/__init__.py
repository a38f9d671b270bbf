"""Exporters, installed as ``zoo.exporters`` and registered under the ``zoo.exporters``
entry-point group. Each turns a plugin's declared :class:`zoo.contract.ExportGraph` into a
deployable file.
"""
