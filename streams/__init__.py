"""Stream glue: the Faust app, topics, agents, tables, notifier, read model and CLI."""
