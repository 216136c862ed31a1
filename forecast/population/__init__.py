"""Cohort-component population projection."""
