"""Kafka plumbing shared by every command: topic administration and client security."""
