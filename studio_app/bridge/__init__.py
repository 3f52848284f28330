"""The one door from Studio to a running runtime: sessions for Simulate and Deploy, turned into Qt signals."""
