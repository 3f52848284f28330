"""The one door from Studio to a running runtime: Simulate and Deploy sessions, as Qt signals."""
