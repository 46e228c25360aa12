"""Maestro's example project: a Django shop synced with MongoDB and Firestore.

``python -m maestro_demo`` (``make demo``) runs the scenario of
:mod:`maestro_demo.scenario`.
"""
