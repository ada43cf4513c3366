"""A project: its config, its models and their migrations (``syncline db``)."""
