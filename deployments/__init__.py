"""Deployments: schedules and work pools, in the company's time zone."""
