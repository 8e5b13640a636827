"""Developers' tools: generated documentation, the shipped samples, the Docker helper.
"""
