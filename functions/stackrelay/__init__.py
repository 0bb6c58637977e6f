"""StackRelay core: the rules shared by the Lambda tasks and the CLI.

Every module here is pure logic or takes its boto3 clients as arguments, so
the same code runs in Lambda, in the CLI and on the local engine. No module
reads the environment at import time: handlers read :class:`Settings` once,
at their own import (a Lambda cold start).
"""
