"""Lambda tasks: one thin Powertools handler per state-machine task.

Each handler parses its event, calls the core with boto3 clients, and returns
only its own result; the ASL decides where that result goes.
"""
