"""Reconcile with Tencent: recover the events whose push never arrived (``handler.reconcile``).

lib/reconcile/rebuild.py rebuilds an event from Tencent's answer; lib/reconcile/run.py is one run.
"""
