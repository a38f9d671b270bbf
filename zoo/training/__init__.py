"""Training: the loop and its planning (``trainer``), data-parallel ranks and the torchrun
launcher (``distributed``), autocast and loss scaling (``precision``), ``--compile`` and
``--channels-last`` (``compiling``), and the warnings about runs going wrong (``guards``).

Architecture-agnostic: a model is anything that keeps the :mod:`zoo.contract`.
"""
