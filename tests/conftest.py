import os

# Keep the test run predictable on small CI machines: one host device unless a test asks for more.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
