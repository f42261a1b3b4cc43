"""The bottom layer: seeding, atomic records, exit statuses, process settings. Imports nothing of ours."""
