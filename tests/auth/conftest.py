# The SMTP fixtures are a plugin module; until tests/conftest.py lists it in pytest_plugins,
# this folder imports them.
from tests.fixtures.smtp import mail_stack, smtp_auth_server, smtp_server  # noqa: F401
