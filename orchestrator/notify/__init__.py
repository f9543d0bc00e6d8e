"""Outbound channels: alerts to Slack, email and webhooks, deduplicated per business date."""
