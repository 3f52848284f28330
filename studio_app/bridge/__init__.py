"""The one door from Studio to a running runtime: the Simulate and Deploy sessions (``sessions``),
the adapter that turns what they hear into typed Qt signals and live state (``adapter``), what a
call came to (``outcome``) and what Studio is doing (``modes``). Only this package imports the
runtime's client, transports, NATS server helper or simulation, or starts processes."""
