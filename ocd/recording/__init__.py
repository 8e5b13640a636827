"""Recordings of the bus: the SQLite file (:mod:`.store`), writing it (:mod:`.recorder`), sending
it again (:mod:`.replay`) at the recorded pace (:mod:`.pacing`).
"""
