"""One service process: its bus, host, executor, wiring, command router and entry point."""
