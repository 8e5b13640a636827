"""OCD's processes, one module each, all on one life cycle (:mod:`.service`); the ``ocd``
commands call into this package.
"""
