"""The project the end-to-end tests configure: the example shop on PostgreSQL.

It adds one app, ``samples``, whose model has a column of every type the
Django backend stores natively.
"""
