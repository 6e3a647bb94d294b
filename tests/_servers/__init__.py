"""Real servers for tests, started on 127.0.0.1 with free ports and stopped by PID."""
