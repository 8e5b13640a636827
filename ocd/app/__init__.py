"""OCD's processes and one-shot commands, one module (or subpackage) each, the long-running
ones on one life cycle (:mod:`ocd.shell.service`); the ``ocd`` commands call into this package.
"""
