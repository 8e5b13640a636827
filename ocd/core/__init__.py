"""The pure core of OCD: every topic name, the state machines, the orchestrator (events and clock
readings in, actions out), the rules of one-shot commands. No I/O: a test enforces it.
"""
