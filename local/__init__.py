"""The local cloud: the whole application on one machine, no AWS account, no Docker."""
