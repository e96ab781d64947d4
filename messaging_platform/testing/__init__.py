"""Test doubles shared by the test suite and bench/: the fake Twilio server and pytest fixtures."""
