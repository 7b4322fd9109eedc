"""What people read: the report, charts, the results site and the publishable dataset."""
