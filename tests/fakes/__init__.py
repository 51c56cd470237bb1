"""In-process fakes of the DNS provider APIs the operator talks to, for tests."""
