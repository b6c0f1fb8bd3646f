"""The ``edgeyolo`` commands, one module each; each module's ``command`` is registered in ``edgeyolo.cli``.

A command parses its options, builds one config, calls :mod:`edgeyolo.api` and prints the result. Options and
helpers that several commands share are in ``_options.py``. At import time a module needs only click: the API
is imported inside the command, so that ``edgeyolo --help`` stays instant and torch-free.
"""
