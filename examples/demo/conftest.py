"""The example's end-to-end tests run in a pytest process of their own.

They configure Django with the example's settings, and a process configures
Django once: the root test run already holds the Django backend's own test
project. So the root run leaves ``tests/`` alone, and ``make test`` runs
``pytest examples/demo/tests`` after it (naming the directory collects it).
"""

collect_ignore = ["tests"]
