"""Deployment and operations scripts (make deploy, make smoke)."""
