"""Imports: CSV reading and rules, the planner, chunk processing, the progress item, the error
report, uploads and the lifecycle that ties them to the state machine."""
