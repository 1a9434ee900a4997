"""The shared kernel: what every context uses and none owns (AWS clients, clock, settings,
DynamoDB helpers, events, errors, cursors, the catalog lock). It imports no context."""
